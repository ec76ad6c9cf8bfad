//! How the pipeline reports what it handled: `tracing`, the counters and the error hook.
//!
//! Reports made while the queue lock is held are collected as [`Problem`]s and reported once
//! it is released: the error hook may record an event itself.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use audit_core::prepare::Invalid;

use crate::error::PipelineError;
use crate::metrics::add;
use crate::overflow::policy::OverflowPolicy;
use crate::shared::Shared;
use crate::spool::record::Corrupt;

impl Shared {
    /// Reports a problem the pipeline handled: `tracing` and the hook.
    pub(crate) fn report(&self, error: PipelineError) {
        match &error {
            // Drops are reported once through tracing (they can come in floods); the hook
            // and the counter see every one. Under `Block` a drop is unexpected data loss.
            PipelineError::QueueFull if self.overflow == OverflowPolicy::Block => {
                if !self.warned_loss.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        error = %error,
                        "audit events are being LOST: the queue and its overflow allowance \
                         are full in a current-thread runtime and there is no spool directory; \
                         use Auditor::record_async or AuditorBuilder::spool_dir (see \
                         Metrics::dropped)"
                    );
                }
            }
            PipelineError::QueueFull | PipelineError::Closed => {
                if !self.warned_drop.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %error, "audit events are being dropped; see Metrics::dropped");
                }
            }
            _ => tracing::error!(error = %error, "audit pipeline"),
        }
        if let Some(hook) = &self.on_error {
            // A hook that records an event may trigger another report (a full queue under
            // the drop policy): report that one through tracing only, instead of recursing.
            let reentered = IN_HOOK.with(|flag| flag.replace(true));
            if !reentered {
                let _reset = ResetOnDrop;
                // A hook bug must not stop the worker (which would strand the batch in
                // hand) nor unwind into a recording caller.
                let called = std::panic::catch_unwind(AssertUnwindSafe(|| hook(&error)));
                if called.is_err() {
                    tracing::error!("the audit pipeline's error hook panicked");
                }
            }
        }
    }

    pub(crate) fn drop_event(&self, why: PipelineError) {
        add(&self.counters.dropped, 1);
        self.report(why);
    }

    pub(crate) fn report_problems(&self, problems: Vec<Problem>) {
        for problem in problems {
            match problem {
                Problem::Error(error) => self.report(error),
                Problem::Invalid(invalid) => self.report_invalid(&invalid),
                Problem::OverCapacity => self.warn_over_capacity(),
            }
        }
    }

    pub(crate) fn report_invalid(&self, invalid: &Invalid) {
        add(&self.counters.invalid, 1);
        self.report(PipelineError::InvalidEvent {
            id: invalid.original.id,
            action: invalid.original.action.chars().take(128).collect(),
            source: invalid.error.clone(),
        });
    }

    /// Reports spool lines that could not be read back (each counted).
    pub(crate) fn report_corrupt(&self, corrupt: Vec<Corrupt>) {
        for bad in corrupt {
            add(&self.counters.spool_corrupt, 1);
            self.report(PipelineError::SpoolCorrupt {
                path: bad.path,
                line: bad.line,
                message: bad.message,
            });
        }
    }
}

thread_local! {
    static IN_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Clears [`IN_HOOK`] when the hook returns or panics.
struct ResetOnDrop;

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        IN_HOOK.with(|flag| flag.set(false));
    }
}

/// Something to report after the queue lock is released.
pub(crate) enum Problem {
    Error(PipelineError),
    Invalid(Box<Invalid>),
    OverCapacity,
}

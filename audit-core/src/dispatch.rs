//! Routing recorded events to the current [`Recorder`]: a scoped one, else the global default.
//!
//! Libraries and `#[audited]` functions call [`record`] and never hold a
//! recorder; the application decides where events go:
//!
//! - [`set_global_default`] installs the process-wide default, **once**: a second install is
//!   an error ([`SetGlobalDefaultError`]), as with `tracing::subscriber::set_global_default`,
//!   not a silent replacement. (The `audit` facade's `init` calls it.)
//! - [`with_recorder`] / [`sync_with_recorder`] route one future or closure elsewhere: tests,
//!   processes that run several apps, one auditor per tenant. The pipeline's `Auditor::scope`
//!   and [`testing::capture`](crate::testing::capture) are such scopes.
//!
//! # Before a recorder is installed
//!
//! Events recorded while no recorder is scoped and none is installed are **held**, up to
//! [`EARLY_CAPACITY`], and replayed into the global default as soon as one is installed (in
//! the order they were recorded; an event recorded by another thread while the replay runs
//! may be written before them). Beyond that capacity they are dropped, counted
//! ([`early_events`]) and reported once through `tracing` at error level. Nothing panics and
//! no caller fails either way. A process that never installs a global default (one that
//! routes every unit of work through a scope) keeps at most [`EARLY_CAPACITY`] stray events in
//! memory and can see them in [`early_events`].
//!
//! ```
//! use audit_core::{AuditEvent, dispatch, testing};
//!
//! // Inside a scope, events go to its recorder, whatever the global default is.
//! let ((), captured) = testing::capture(|| {
//!     audit_core::record(AuditEvent::builder("INSIDE").build());
//! });
//! assert_eq!(captured.actions(), ["INSIDE"]);
//!
//! // Outside every scope and before any install, events are held for the first install.
//! audit_core::record(AuditEvent::builder("EARLY").build());
//! assert_eq!(dispatch::early_events().held, 1);
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::context::AuditContext;
use crate::context::scope::{self, Setting, Settings};
use crate::event::AuditEvent;
use crate::recorder::{Recorded, Recorder};

/// How many events recorded before any recorder is installed are held for it.
pub const EARLY_CAPACITY: usize = 1024;

static GLOBAL: OnceLock<Arc<dyn Recorder>> = OnceLock::new();
static EARLY: Mutex<Early> = Mutex::new(Early {
    held: VecDeque::new(),
    lost: 0,
});
static WARNED_HELD: AtomicBool = AtomicBool::new(false);
static WARNED_LOST: AtomicBool = AtomicBool::new(false);

struct Early {
    held: VecDeque<Recorded>,
    lost: u64,
}

fn early() -> MutexGuard<'static, Early> {
    // Every update under the lock is a single push or a swap: a poisoned lock is consistent.
    EARLY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The events recorded while no recorder was scoped or installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EarlyEvents {
    /// Held now, to be replayed into the first global default installed.
    pub held: usize,
    /// Dropped because [`EARLY_CAPACITY`] events were held already.
    pub lost: u64,
}

/// How many events were recorded with nowhere to go yet, and how many of those were lost.
pub fn early_events() -> EarlyEvents {
    let early = early();
    EarlyEvents {
        held: early.held.len(),
        lost: early.lost,
    }
}

/// The global default was installed already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a global default audit recorder is already installed; it can be installed once per \
     process (use a scope, e.g. `Auditor::scope`, to route part of a process elsewhere)"
)]
#[non_exhaustive]
pub struct SetGlobalDefaultError;

/// Installs the process-wide default recorder, once; events held since the start of the
/// process (see the [module docs](self)) are replayed into it.
///
/// ```
/// use std::sync::Arc;
/// use audit_core::{dispatch, testing::Capture};
/// # use audit_core::recorder::{Recorded, Recorder};
/// # struct Discard;
/// # impl Recorder for Discard { fn record(&self, _: Recorded) {} }
///
/// let recorder: Arc<dyn Recorder> = Arc::new(Discard);
/// assert!(dispatch::set_global_default(recorder.clone()).is_ok());
/// assert!(dispatch::set_global_default(recorder).is_err()); // once per process
/// ```
pub fn set_global_default(
    recorder: impl Into<Arc<dyn Recorder>>,
) -> Result<(), SetGlobalDefaultError> {
    let recorder = recorder.into();
    let (held, lost) = {
        let mut early = early();
        GLOBAL
            .set(Arc::clone(&recorder))
            .map_err(|_| SetGlobalDefaultError)?;
        // Set under the lock: a recording thread that found no global checks again under
        // it, so nothing can be left behind in the buffer.
        (std::mem::take(&mut early.held), early.lost)
    };
    if lost > 0 {
        tracing::error!(
            lost,
            "audit events recorded before the first recorder was installed were lost \
             (more than {EARLY_CAPACITY} were held)"
        );
    }
    for recorded in held {
        recorder.record(recorded);
    }
    Ok(())
}

/// The process-wide default recorder, if one is installed.
pub fn global_default() -> Option<Arc<dyn Recorder>> {
    GLOBAL.get().cloned()
}

/// Runs `future` with `recorder` as the target of [`record`] and `#[audited]`,
/// instead of the global default. Work carried over with
/// [`context::spawn`](crate::context::spawn) and friends inherits it.
pub fn with_recorder<F: Future>(
    recorder: impl Into<Arc<dyn Recorder>>,
    future: F,
) -> impl Future<Output = F::Output> {
    scope::enter(recorder_only(recorder.into()), future)
}

/// Runs `f` with `recorder` as the target of [`record`] on this thread.
pub fn sync_with_recorder<R>(recorder: impl Into<Arc<dyn Recorder>>, f: impl FnOnce() -> R) -> R {
    scope::sync_enter(recorder_only(recorder.into()), f)
}

/// Settings that set the recorder and inherit the context.
fn recorder_only(recorder: Arc<dyn Recorder>) -> Settings {
    Settings {
        context: Setting::Inherit,
        recorder: Setting::Set(Some(recorder)),
    }
}

/// A cheap handle on where events go, captured once and usable later from anywhere.
///
/// `#[audited]` captures one (with [`current`]) when a call starts and records through it
/// when the call ends, even from a `Drop` during a panic or a cancellation, long after the
/// caller's scope is gone. A recorder that wraps another (to observe what a request
/// records, say) forwards to the one captured when it was made.
#[derive(Clone, Default)]
pub struct Dispatch {
    /// `None`: no recorder was scoped when the handle was taken; the global default (or the
    /// early buffer) is looked up when it records.
    recorder: Option<Arc<dyn Recorder>>,
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = if self.recorder.is_some() {
            "scoped"
        } else {
            "global"
        };
        f.debug_struct("Dispatch").field("target", &target).finish()
    }
}

impl Dispatch {
    /// A handle from a frame read once (`#[audited]` reads context and recorder together).
    pub(crate) fn from_scoped(recorder: Option<Arc<dyn Recorder>>) -> Self {
        Self { recorder }
    }

    /// A handle on `recorder`.
    pub fn to(recorder: impl Into<Arc<dyn Recorder>>) -> Self {
        Self {
            recorder: Some(recorder.into()),
        }
    }

    /// Records `event` with the context current on the calling task or thread.
    pub fn record(&self, event: AuditEvent) {
        self.record_with_context(event, AuditContext::current());
    }

    /// Records `event` with an explicitly captured context (`None`: no context).
    pub fn record_with_context(&self, event: AuditEvent, ctx: Option<Arc<AuditContext>>) {
        self.submit(Recorded::new(event, ctx));
    }

    /// Hands a recorded event to the recorder.
    pub fn submit(&self, recorded: Recorded) {
        match &self.recorder {
            Some(recorder) => recorder.record(recorded),
            None => submit_unscoped(recorded),
        }
    }

    /// Hands a recorded event to the recorder from async code (see [`record_async`]).
    pub async fn submit_async(&self, recorded: Recorded) {
        match self.recorder.clone().or_else(global_default) {
            Some(recorder) => recorder.record_async(recorded).await,
            None => submit_unscoped(recorded),
        }
    }
}

/// The dispatch current now: the innermost scoped recorder, else the global default (looked
/// up when the handle records, so one installed in between is used).
pub fn current() -> Dispatch {
    Dispatch::from_scoped(scope::scoped_recorder())
}

/// To the global default, or into the early buffer while there is none.
fn submit_unscoped(recorded: Recorded) {
    if let Some(global) = GLOBAL.get() {
        return global.record(recorded);
    }
    let mut early = early();
    // Installed since the check above: `set_global_default` sets it under this lock.
    if let Some(global) = GLOBAL.get() {
        drop(early);
        return global.record(recorded);
    }
    if early.held.len() < EARLY_CAPACITY {
        early.held.push_back(recorded);
        drop(early);
        if !WARNED_HELD.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "an audit event was recorded before any recorder was installed; holding up \
                 to {EARLY_CAPACITY} such events for the first one (audit::init or \
                 audit_core::dispatch::set_global_default)"
            );
        }
    } else {
        early.lost += 1;
        drop(early);
        if !WARNED_LOST.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "audit events are being LOST: {EARLY_CAPACITY} were recorded before any \
                 recorder was installed and more keep coming (see \
                 audit_core::dispatch::early_events)"
            );
        }
    }
}

/// Records `event` through the current recorder (a scoped one, else the global default),
/// picking up the current [`AuditContext`].
///
/// Never fails and never panics: problems (an invalid event, a full queue, a failing sink)
/// are reported by the recorder itself. It waits only where the recorder does: the
/// pipeline's `Auditor::record` waits for room in a full queue under its default `Block`
/// overflow policy on a plain thread or in a tokio multi-thread runtime; in async code
/// [`record_async`] waits without holding up a thread.
///
/// ```
/// use audit_core::{AuditEvent, testing};
///
/// let ((), captured) = testing::capture(|| {
///     audit_core::record(AuditEvent::builder("REPORT_EXPORTED").build());
/// });
/// assert_eq!(captured.single().action, "REPORT_EXPORTED");
/// ```
pub fn record(event: AuditEvent) {
    let frame = scope::current_frame();
    Dispatch::from_scoped(frame.recorder).submit(Recorded::new(event, frame.context));
}

/// [`record`] for async code: a recorder with backpressure (the pipeline under its default
/// overflow policy) waits for room without blocking the thread.
pub async fn record_async(event: AuditEvent) {
    let frame = scope::current_frame();
    let recorded = Recorded::new(event, frame.context);
    Dispatch::from_scoped(frame.recorder)
        .submit_async(recorded)
        .await;
}

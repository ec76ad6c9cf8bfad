//! A guard that drains the pipeline when it goes out of scope.

use std::time::Duration;

use crate::Auditor;

/// Shuts the [`Auditor`] down (draining the queue and the spool as far as the sink allows)
/// when dropped, waiting at most a bounded time. Hold it in `main`:
///
/// ```
/// use audit_pipeline::Auditor;
/// use audit_core::{AuditEvent, sinks::MemorySink};
///
/// let sink = MemorySink::new();
/// {
///     let auditor = Auditor::builder(sink.clone()).build().unwrap();
///     let _guard = auditor.guard();
///     auditor.record(AuditEvent::builder("JOB_FINISHED").build());
/// } // the guard drains here
/// assert_eq!(sink.len(), 1);
/// ```
///
/// Dropping it inside an async runtime blocks that thread for up to the timeout (it cannot
/// deadlock: the worker has its own thread); in async code prefer awaiting
/// [`Auditor::shutdown`] and then dropping the guard, which then returns at once.
#[must_use = "the guard drains the auditor when dropped; bind it to a variable (`let _guard`)"]
#[derive(Debug)]
pub struct AuditorGuard {
    auditor: Auditor,
    timeout: Duration,
}

impl AuditorGuard {
    pub(crate) fn new(auditor: Auditor, timeout: Duration) -> Self {
        Self { auditor, timeout }
    }

    /// The auditor this guard drains.
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }
}

impl Drop for AuditorGuard {
    fn drop(&mut self) {
        if let Err(err) = self.auditor.shutdown_blocking_timeout(self.timeout) {
            tracing::error!(error = %err, "audit pipeline did not drain cleanly at shutdown");
        }
    }
}

//! Hooks that see every event the pipeline commits (alert rules are one).

use crate::event::AuditEvent;

/// Sees each event after the pipeline validated and redacted it, on the pipeline's worker.
///
/// Whatever events it returns are recorded through the same pipeline (an alert rule returns
/// the alert event it fired). It must be cheap and must not block: it runs on the worker.
pub trait EventObserver: Send + Sync + 'static {
    /// Looks at one event; returns follow-up events to record (usually none).
    fn observe(&self, event: &AuditEvent) -> Vec<AuditEvent>;
}

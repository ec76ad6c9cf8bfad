//! Hooks that see every event as the pipeline prepares it (alert rules are one).

use crate::event::AuditEvent;

/// Sees each event once the pipeline has merged its context, redacted and validated it, on
/// the pipeline's worker, **before** the sink writes it: an observed event may still be
/// spooled, replayed later, or (if the sink refuses it for good) dead-lettered. Each event is
/// observed once, however many write attempts it takes.
///
/// Whatever events it returns are recorded through the same pipeline, right after it (an
/// alert rule returns the alert event it fired). It must be cheap and must not block: it
/// runs on the worker.
pub trait EventObserver: Send + Sync + 'static {
    /// Looks at one event; returns follow-up events to record (usually none).
    fn observe(&self, event: &AuditEvent) -> Vec<AuditEvent>;
}

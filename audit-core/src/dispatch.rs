//! Routing recorded events to the current auditor (scoped override, then global).
//! PLACEHOLDER: owned by the pipeline work.

use crate::event::AuditEvent;
use crate::pipeline::Auditor;

/// Records `event` through the current auditor (scoped override, else the global one).
pub fn record(event: AuditEvent) {
    let _ = event;
}

/// Installs the process-wide default auditor.
pub fn set_global(auditor: Auditor) {
    let _ = auditor;
}

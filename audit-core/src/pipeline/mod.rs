//! The `Auditor` pipeline: bounded queue, batching worker, retry, spool and replay.
//!
//! Work in progress: recording through an `Auditor` is not wired to a worker yet.

pub(crate) mod prepare;

use std::sync::Arc;

use crate::context::AuditContext;
use crate::event::AuditEvent;

pub use prepare::INVALID_EVENT_ACTION;

/// The pipeline handle: cheap to clone, shared by every producer.
#[derive(Debug, Clone)]
pub struct Auditor {}

impl Auditor {
    /// Records `event` with the current [`AuditContext`]. Never blocks for long, never fails.
    pub fn record(&self, event: AuditEvent) {
        self.record_with_context(event, AuditContext::current());
    }

    /// Records `event` with an explicitly captured context.
    pub fn record_with_context(&self, event: AuditEvent, ctx: Option<Arc<AuditContext>>) {
        let _ = (event, ctx);
    }
}

//! [`TracingSink`]: also emits each audit event as a `tracing` event (opt-in).

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Level;

use crate::event::{AuditEvent, Severity};
use crate::sink::{AuditSink, BatchAck, SinkError};

/// The `tracing` target of the emitted events, to route or filter them
/// (`RUST_LOG=audit=info`).
pub const TARGET: &str = "audit";

/// Emits every audit event as a `tracing` event with structured fields (target
/// [`TARGET`]), on its own or after another sink committed the batch.
///
/// Wrapping another sink, events are emitted only once that sink has committed them, so the
/// log shows what is stored, without duplicates from retries. The level follows the
/// event's severity (info, notice → `INFO`; warning → `WARN`; error, critical → `ERROR`)
/// unless fixed with [`level`](Self::level). Formatting happens on the pipeline's worker,
/// never on the recording thread.
///
/// ```
/// use audit_core::{AuditEvent, AuditSink, sinks::{MemorySink, TracingSink}};
///
/// let store = MemorySink::new();
/// let sink = TracingSink::wrap(store.clone()); // hand this one to the pipeline
/// futures::executor::block_on(sink.write(&[AuditEvent::builder("USER_LOGIN").build()]))
///     .unwrap();
/// assert_eq!(store.len(), 1);
/// ```
#[derive(Clone)]
pub struct TracingSink {
    inner: Option<Arc<dyn AuditSink>>,
    level: Option<Level>,
}

impl std::fmt::Debug for TracingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingSink")
            .field("wraps_a_sink", &self.inner.is_some())
            .field("level", &self.level)
            .finish()
    }
}

impl Default for TracingSink {
    fn default() -> Self {
        Self::new()
    }
}

impl TracingSink {
    /// A sink that only emits `tracing` events (nothing is stored).
    pub fn new() -> Self {
        Self {
            inner: None,
            level: None,
        }
    }

    /// Writes to `inner`, then emits what it committed.
    pub fn wrap(inner: impl AuditSink) -> Self {
        Self {
            inner: Some(Arc::new(inner)),
            level: None,
        }
    }

    /// Emits every event at this level instead of one derived from its severity.
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    fn emit(&self, event: &AuditEvent, ack: &BatchAck, index: usize) {
        let level = self.level.unwrap_or(match event.severity {
            Severity::Info | Severity::Notice => Level::INFO,
            Severity::Warning => Level::WARN,
            _ => Level::ERROR,
        });
        let seq = ack.position(index).map(|p| p.seq);
        let metadata = event.metadata.to_string();
        macro_rules! emit_at {
            ($level:expr) => {
                ::tracing::event!(
                    target: TARGET,
                    $level,
                    id = %event.id,
                    occurred_at = %event.occurred_at.to_rfc3339(),
                    action = %event.action,
                    category = event.category.as_str(),
                    outcome = event.outcome.as_str(),
                    severity = event.severity.as_str(),
                    reason = event.reason.as_deref(),
                    actor = event.actor.as_ref().map(|a| a.id.as_str()),
                    actor_kind = event.actor.as_ref().map(|a| a.kind.as_str()),
                    entity_type = event.entity_type.as_deref(),
                    entity_id = event.entity_id.as_deref(),
                    ip = event.ip.map(::tracing::field::display),
                    user_agent = event.user_agent.as_deref(),
                    request_id = event.request_id.as_deref(),
                    session_id = event.session_id.as_deref(),
                    tenant = event.tenant.as_deref(),
                    seq,
                    metadata = %metadata,
                    "audit event {}",
                    event.action
                )
            };
        }
        match level {
            Level::ERROR => emit_at!(Level::ERROR),
            Level::WARN => emit_at!(Level::WARN),
            Level::INFO => emit_at!(Level::INFO),
            Level::DEBUG => emit_at!(Level::DEBUG),
            _ => emit_at!(Level::TRACE),
        }
    }
}

#[async_trait]
impl AuditSink for TracingSink {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        let ack = match &self.inner {
            Some(inner) => inner.write(batch).await?,
            None => BatchAck::unchained(),
        };
        for (index, event) in batch.iter().enumerate() {
            self.emit(event, &ack, index);
        }
        Ok(ack)
    }

    async fn flush(&self) -> Result<(), SinkError> {
        match &self.inner {
            Some(inner) => inner.flush().await,
            None => Ok(()),
        }
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        match &self.inner {
            Some(inner) => inner.shutdown().await,
            None => Ok(()),
        }
    }
}

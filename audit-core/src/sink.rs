//! Where events go: the [`AuditSink`] trait and its error.

use async_trait::async_trait;
use uuid::Uuid;

use crate::chain::ChainHash;
use crate::event::AuditEvent;

/// The boxed error type carried as a [`SinkError`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An event's place in a chain, reported by sinks that store one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ChainPosition {
    /// The event's gap-free sequence number.
    pub seq: u64,
    /// The event's chain hash.
    pub hash: ChainHash,
}

/// What a sink reports for a batch it committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchAck {
    positions: Option<Vec<ChainPosition>>,
}

impl BatchAck {
    /// The batch is durable, but the sink keeps no chain (a file, a log stream).
    pub fn unchained() -> Self {
        Self { positions: None }
    }

    /// The batch is durable; `positions[i]` is where `batch[i]` landed in the chain.
    pub fn chained(positions: Vec<ChainPosition>) -> Self {
        Self {
            positions: Some(positions),
        }
    }

    /// The chain position of the `index`-th event of the batch, if the sink keeps a chain.
    pub fn position(&self, index: usize) -> Option<ChainPosition> {
        self.positions.as_ref().and_then(|p| p.get(index).copied())
    }
}

/// Proof that an event was committed by the sink, returned by
/// `Auditor::record_durable` (crate `audit-pipeline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The event's id.
    pub id: Uuid,
    /// Where it landed in the chain, for sinks that keep one.
    pub position: Option<ChainPosition>,
}

/// Why a sink could not commit a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Reading or writing a file or socket failed; usually transient.
    #[error("sink I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The backend is unreachable or busy; the batch can be retried as it is.
    #[error("sink backend unavailable: {message}")]
    Unavailable {
        /// What went wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend refused the batch and would refuse it again (a constraint, a schema
    /// mismatch). The pipeline then writes the batch one event at a time and keeps only the
    /// refused events, in a dead-letter file (`rejected-*.jsonl` in the spool directory, see
    /// the `audit-pipeline` crate's `spool` module); they are never retried automatically.
    #[error("sink rejected the batch: {message}")]
    Rejected {
        /// What went wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The sink was shut down.
    #[error("sink is closed")]
    Closed,
}

impl SinkError {
    /// A transient failure with a source error.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A permanent failure with a source error.
    pub fn rejected(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Rejected {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether retrying the same batch later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Unavailable { .. })
    }
}

/// A destination for audit events: a file, a database, a message queue.
///
/// The `Auditor` (crate `audit-pipeline`) calls `write` from its worker with batches in the order
/// events were recorded, one call at a time. A sink must either commit the whole batch and
/// return `Ok`, or commit nothing and return `Err`; the pipeline then retries, spools, and
/// replays, so a sink never needs its own retry loop.
///
/// ```
/// use async_trait::async_trait;
/// use audit_core::{AuditEvent, AuditSink, BatchAck, SinkError};
///
/// struct Stdout;
///
/// #[async_trait]
/// impl AuditSink for Stdout {
///     async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
///         for event in batch {
///             println!("{} {}", event.occurred_at, event.action);
///         }
///         Ok(BatchAck::unchained())
///     }
/// }
/// ```
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    /// Commits a batch (all or nothing).
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError>;

    /// Makes everything written so far durable (for sinks that buffer).
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Releases resources; called once when the pipeline shuts down, after the last flush.
    async fn shutdown(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait]
impl<S: AuditSink + ?Sized> AuditSink for std::sync::Arc<S> {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        (**self).write(batch).await
    }

    async fn flush(&self) -> Result<(), SinkError> {
        (**self).flush().await
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        (**self).shutdown().await
    }
}

//! The append path every backend shares: prepare the batch, try it straight after the chain
//! head, and on a unique-key violation try once more with the stored rows looked up; and the
//! [`AuditSink`](audit_core::AuditSink) built on it. The transaction itself (head lock,
//! insert, head update) is each backend's own.

use async_trait::async_trait;
use audit_core::{AuditEvent, ChainPosition};

use crate::error::Result;
use crate::link::Head;
use crate::prepared::{Prepared, StorageRules};
use crate::retry::is_duplicate_key;

/// How much an append transaction checks before inserting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Insert straight after the head; a stored id (a retried batch) or an occupied seq (a
    /// row inserted behind the library's back) fails the transaction with a unique
    /// violation, to be retried with [`Check::Stored`]. The common case pays for nothing:
    /// looking the ids up first (one index probe per event under the head lock) was the
    /// largest cost of an append beside the raw insert.
    Nothing,
    /// Look the batch's ids up (stored ones are acknowledged with their stored positions)
    /// and continue the chain after the highest stored seq ([`first_free_seq`]).
    Stored,
}

/// A backend's append transaction.
#[async_trait]
pub(crate) trait ChainWriter: Send + Sync {
    /// What the backend's columns hold.
    fn rules(&self) -> &StorageRules;
    /// Links and stores `rows` in one transaction of the store's own; all or nothing.
    async fn append_rows(&self, rows: &mut [Prepared], check: Check) -> Result<Vec<ChainPosition>>;
    /// What the sink does when it shuts down (signs a last checkpoint).
    async fn finish(&self) -> Result<()>;
}

/// Appends `events` in one transaction and returns each event's position: all or nothing,
/// invalid events refused before any database work, stored ones acknowledged with their
/// stored positions.
pub(crate) async fn append(
    w: &impl ChainWriter,
    events: &[AuditEvent],
) -> Result<Vec<ChainPosition>> {
    let mut rows = Prepared::batch(events, w.rules())?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    match w.append_rows(&mut rows, Check::Nothing).await {
        // A retried batch, a replayed spool, or a row inserted behind the library's back on
        // the next seq: look up what is stored, chain the rest.
        Err(err) if is_duplicate_key(&err) => w.append_rows(&mut rows, Check::Stored).await,
        other => other,
    }
}

/// The first seq after every stored row (`max_stored`). Rows beyond the head were not written
/// through it (a role that may `INSERT` can add rows, but not move the head consistently with
/// them): the chain goes on after them rather than stopping every writer on their seqs, and
/// verification reports them.
pub(crate) fn first_free_seq(
    head: Head,
    max_stored: Option<u64>,
    place: &dyn std::fmt::Display,
) -> u64 {
    match max_stored {
        Some(max) if max > head.seq => {
            tracing::error!(
                store = %place,
                head = head.seq,
                highest = max,
                "audit events table holds rows beyond the chain head that were not written \
                 through it (inserted behind the library's back?); the chain continues after \
                 them and verification reports them"
            );
            max + 1
        }
        _ => head.seq + 1,
    }
}

/// Implements [`AuditSink`](audit_core::AuditSink) for a store that is a [`ChainWriter`].
macro_rules! audit_sink_through_append {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl audit_core::AuditSink for $store {
            async fn write(
                &self,
                batch: &[audit_core::AuditEvent],
            ) -> Result<audit_core::BatchAck, audit_core::SinkError> {
                let positions = self
                    .runtime()
                    .run($crate::append::append(self, batch))
                    .await?;
                Ok(audit_core::BatchAck::chained(positions))
            }

            /// Signs a last checkpoint when the store has a checkpoint policy, and leaves
            /// the pool open: clones of this store (the read side, a relay) share it and may
            /// outlive the pipeline. The pool closes when the last clone is dropped, or
            /// explicitly with the store's `close`.
            async fn shutdown(&self) -> Result<(), audit_core::SinkError> {
                self.runtime()
                    .run($crate::append::ChainWriter::finish(self))
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use audit_sink_through_append;

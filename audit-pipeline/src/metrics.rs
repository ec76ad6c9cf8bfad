//! Pipeline counters and their snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the pipeline's counters, from [`Auditor::metrics`](crate::Auditor::metrics).
///
/// Counters only grow; `queued` and `spool_pending` are current levels. Every recorded event
/// ends up in exactly one of `written` (possibly after `replayed`), `dropped`, `failed`
/// (kept in a dead-letter file), or is still `queued` / pending in the spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Events accepted by `record*` (into the queue or the overflow spool).
    pub enqueued: u64,
    /// Events the sink committed, including replayed ones and `AUDIT_EVENT_INVALID` stand-ins.
    pub written: u64,
    /// Events discarded: the queue was full under [`OverflowPolicy::DropNewest`], or full
    /// past its [`max_overflow`] allowance with nowhere to spool them (`record` in a
    /// current-thread runtime under [`OverflowPolicy::Block`] without a spool directory), or
    /// they were recorded after shutdown.
    ///
    /// [`OverflowPolicy::DropNewest`]: crate::OverflowPolicy::DropNewest
    /// [`OverflowPolicy::Block`]: crate::OverflowPolicy::Block
    /// [`max_overflow`]: crate::AuditorBuilder::max_overflow
    pub dropped: u64,
    /// Write attempts repeated after a retryable sink error.
    pub retried: u64,
    /// Events written to the spool (sink unavailable, or the queue full under
    /// [`OverflowPolicy::Spool`](crate::OverflowPolicy::Spool)).
    pub spooled: u64,
    /// Spooled events later committed by the sink.
    pub replayed: u64,
    /// Events the sink rejected permanently; they are kept in a dead-letter file.
    pub failed: u64,
    /// Events that failed validation (an `AUDIT_EVENT_INVALID` event was written instead).
    pub invalid: u64,
    /// Events accepted past the queue's capacity (at most
    /// [`max_overflow`](crate::AuditorBuilder::max_overflow) at a time) by `record`
    /// called in a tokio current-thread runtime under
    /// [`OverflowPolicy::Block`](crate::OverflowPolicy::Block), which must not block
    /// that runtime's only thread (use `record_async` there for backpressure).
    pub over_capacity: u64,
    /// Unreadable spool lines skipped during replay (a torn last line after a crash).
    pub spool_corrupt: u64,
    /// Events in the queue now.
    pub queued: u64,
    /// Events waiting in the spool now.
    pub spool_pending: u64,
}

/// The live counters behind [`Metrics`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) enqueued: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) over_capacity: AtomicU64,
    pub(crate) spool_corrupt: AtomicU64,
    pub(crate) spool_pending: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, queued: usize) -> Metrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            enqueued: get(&self.enqueued),
            written: get(&self.written),
            dropped: get(&self.dropped),
            retried: get(&self.retried),
            spooled: get(&self.spooled),
            replayed: get(&self.replayed),
            failed: get(&self.failed),
            invalid: get(&self.invalid),
            over_capacity: get(&self.over_capacity),
            spool_corrupt: get(&self.spool_corrupt),
            queued: queued as u64,
            spool_pending: get(&self.spool_pending),
        }
    }
}

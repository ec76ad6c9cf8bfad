//! What `record` does when the queue is full.

/// What [`Auditor::record`](crate::Auditor::record) does when the queue is full.
///
/// The default, [`Block`](Self::Block), loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Wait for room (no loss).
    ///
    /// A caller on a plain thread waits. A caller inside a tokio runtime is never made to
    /// block the executor: `record` then accepts the event past the capacity (counted in
    /// [`Metrics::over_capacity`](crate::pipeline::Metrics::over_capacity)); async code that
    /// wants real backpressure awaits [`Auditor::record_async`](crate::Auditor::record_async).
    #[default]
    Block,
    /// Discard the new event and count it in
    /// [`Metrics::dropped`](crate::pipeline::Metrics::dropped) (the first drop is warned
    /// about). For telemetry-grade events only: audit data usually must not be lost.
    DropNewest,
    /// Append the event to a file in the spool directory and carry on; the worker reads it
    /// back after the queue, in order. Needs
    /// [`AuditorBuilder::spool_dir`](crate::pipeline::AuditorBuilder::spool_dir).
    ///
    /// The caller prepares (merges context, redacts, validates) and writes the event itself,
    /// so nothing sensitive reaches the disk; the write is not fsync'd per event (it survives
    /// a crash of the process, not of the machine).
    Spool,
}

//! [`OverflowPolicy`]: the setting; what it does is in the parent module.

/// What [`Auditor::record`](crate::Auditor::record) does when the queue is full.
///
/// The default, [`Block`](Self::Block), loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Wait for room (no loss, bounded memory).
    ///
    /// - [`Auditor::record_async`](crate::Auditor::record_async) waits asynchronously: the
    ///   recommended call in async code, whatever the runtime.
    /// - `record` on a plain thread (no tokio runtime) waits on the thread.
    /// - `record` inside a tokio **multi-thread** runtime waits inside
    ///   [`tokio::task::block_in_place`]: the runtime moves the thread's other tasks
    ///   elsewhere and keeps driving them and their I/O, so a sink that uses the caller's
    ///   runtime still makes progress, and the queue never grows past its capacity.
    /// - `record` inside a tokio **current-thread** runtime does not wait (blocking the only
    ///   thread could starve a sink driven by it): the queue takes up to
    ///   [`max_overflow`](crate::AuditorBuilder::max_overflow) events past its
    ///   capacity (default: the capacity again; counted in
    ///   [`Metrics::over_capacity`](crate::Metrics::over_capacity)). Beyond that,
    ///   with a [`spool_dir`](crate::AuditorBuilder::spool_dir) the event is
    ///   appended to the overflow spool file, as under [`Spool`](Self::Spool), and nothing is
    ///   lost; **without one it is dropped**, counted in
    ///   [`Metrics::dropped`](crate::Metrics::dropped) and reported as
    ///   [`PipelineError::QueueFull`](crate::PipelineError::QueueFull). So in a
    ///   current-thread runtime, use `record_async` or set a spool directory if a flood must
    ///   lose nothing.
    #[default]
    Block,
    /// Discard the new event and count it in
    /// [`Metrics::dropped`](crate::Metrics::dropped) (the first drop is warned
    /// about). For telemetry-grade events only: audit data usually must not be lost.
    DropNewest,
    /// Append the event to a file in the spool directory and carry on; the worker reads it
    /// back after the queue, in order. Needs
    /// [`AuditorBuilder::spool_dir`](crate::AuditorBuilder::spool_dir).
    ///
    /// The caller prepares (merges context, redacts, validates) and writes the event itself,
    /// so nothing sensitive reaches the disk; the write is not fsync'd per event (it survives
    /// a crash of the process, not of the machine).
    Spool,
}

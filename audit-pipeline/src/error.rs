//! The pipeline's errors: what a durable caller is told, and what the error hook sees.

use std::path::PathBuf;

use uuid::Uuid;

use audit_core::sink::SinkError;
use audit_core::validate::ValidationError;

/// The error hook's type ([`AuditorBuilder::on_error`](crate::AuditorBuilder::on_error)).
pub(crate) type ErrorHook = std::sync::Arc<dyn Fn(&PipelineError) + Send + Sync + 'static>;

/// Why [`Auditor::record_durable`](crate::Auditor::record_durable), `flush` or `shutdown`
/// could not confirm that events reached the sink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The event failed validation; an `AUDIT_EVENT_INVALID` event was written in its place.
    #[error("invalid audit event: {0}")]
    Invalid(#[from] ValidationError),
    /// The sink refused the event permanently; it was kept in a dead-letter file.
    #[error("the audit sink rejected the event: {message}")]
    Rejected {
        /// The sink's message.
        message: String,
    },
    /// The sink is unavailable: events wait in the spool and are replayed when it recovers
    /// (or on the next start, from the spool directory).
    #[error("the audit sink is unavailable; {pending} event(s) wait in the spool")]
    Spooled {
        /// How many events wait in the spool.
        pending: u64,
    },
    /// The sink failed to flush what it had committed.
    #[error("the audit sink failed to flush: {message}")]
    Sink {
        /// The sink's message.
        message: String,
    },
    /// At shutdown the sink was still unavailable and the events could not be spooled to
    /// disk (no [`spool_dir`](crate::AuditorBuilder::spool_dir), or writing there
    /// failed): nothing will replay them. Each was written to the `tracing` error log as
    /// JSON, which is all that is left of it.
    #[error(
        "{events} audit event(s) could not be stored at shutdown (sink down, no spool file); \
         they were only logged as JSON"
    )]
    Unsaved {
        /// How many events were not stored.
        events: u64,
    },
    /// The auditor was shut down (or its worker stopped).
    #[error("the auditor is shut down")]
    Closed,
    /// A blocking call was made on the pipeline's own worker thread (from an observer, a
    /// sink or the error hook), where it would wait for itself forever.
    #[error("blocking call on the audit worker's own thread refused (it would deadlock)")]
    OnWorkerThread,
    /// A blocking call gave up waiting; the work goes on in the background.
    #[error("timed out waiting for the audit pipeline")]
    TimedOut,
}

/// A problem the pipeline handled on its own, reported through `tracing` and the
/// [`on_error`](crate::AuditorBuilder::on_error) hook, never to the recording code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// An event failed validation; an `AUDIT_EVENT_INVALID` event was written in its place.
    #[error("invalid audit event {id} ({action}), recorded AUDIT_EVENT_INVALID instead: {source}")]
    InvalidEvent {
        /// The invalid event's id.
        id: Uuid,
        /// Its action code (truncated).
        action: String,
        /// What is wrong with it.
        #[source]
        source: ValidationError,
    },
    /// The sink kept failing; the batch was spooled for replay.
    #[error("audit sink failed after {attempts} attempt(s); {events} event(s) spooled: {source}")]
    SinkUnavailable {
        /// Attempts made.
        attempts: u32,
        /// Events in the batch.
        events: usize,
        /// The last error.
        #[source]
        source: SinkError,
    },
    /// The sink refused events permanently; they were kept in a dead-letter file.
    #[error("audit sink rejected {events} event(s), kept as dead letters: {source}")]
    SinkRejected {
        /// Events refused.
        events: usize,
        /// The sink's error.
        #[source]
        source: SinkError,
    },
    /// The queue was full and an event was discarded: under
    /// [`OverflowPolicy::DropNewest`](crate::OverflowPolicy::DropNewest), or under
    /// [`OverflowPolicy::Block`](crate::OverflowPolicy::Block) when `record` ran in
    /// a current-thread runtime, the queue was past its
    /// [`max_overflow`](crate::AuditorBuilder::max_overflow) allowance and there
    /// was no spool directory to take the event (data loss).
    #[error("audit queue full: an event was dropped")]
    QueueFull,
    /// An event was recorded after shutdown and discarded.
    #[error("audit event recorded after shutdown: dropped")]
    Closed,
    /// Reading or writing the spool failed (events stay in memory meanwhile).
    #[error("audit spool I/O failed at {path}: {source}")]
    Spool {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A spool line could not be read back and was skipped (typically the torn last line
    /// of a process that crashed while writing it).
    #[error("unreadable line {line} in spool file {path} skipped: {message}")]
    SpoolCorrupt {
        /// The spool file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// Why it could not be read.
        message: String,
    },
    /// Events could not be kept anywhere durable at shutdown (no spool directory and the
    /// sink still down); they were written to the `tracing` error log as JSON.
    #[error("{events} audit event(s) could not be stored at shutdown; logged as JSON")]
    Unsaved {
        /// How many.
        events: usize,
    },
}

/// Why an [`Auditor`](crate::Auditor) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The spool directory could not be created or read.
    #[error("cannot use audit spool directory {path}: {source}")]
    Spool {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The worker thread or its runtime could not be started.
    #[error("cannot start the audit worker: {0}")]
    Worker(#[source] std::io::Error),
    /// The configuration is inconsistent.
    #[error("invalid auditor configuration: {0}")]
    Config(&'static str),
}

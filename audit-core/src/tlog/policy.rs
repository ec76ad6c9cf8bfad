//! When checkpoints are signed, and where they are published.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{CheckpointSigner, SignedCheckpoint};
use crate::sink::BoxError;

/// Receives every checkpoint a store signs, after the transaction that stored it committed:
/// send it somewhere the database's writers cannot reach (a witness, another system, a
/// file on another volume). A publisher must be quick; its errors are logged and never fail
/// the write that triggered it.
pub trait CheckpointPublisher: Send + Sync + 'static {
    /// Publishes one checkpoint.
    fn publish(&self, checkpoint: &SignedCheckpoint) -> Result<(), BoxError>;
}

/// Writes the newest checkpoint to a file, replacing it atomically (a temporary file beside
/// it, then a rename), so a reader never sees half a checkpoint.
#[derive(Debug, Clone)]
pub struct FilePublisher {
    path: PathBuf,
}

impl FilePublisher {
    /// Publishes to `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
        }
    }
}

impl CheckpointPublisher for FilePublisher {
    fn publish(&self, checkpoint: &SignedCheckpoint) -> Result<(), BoxError> {
        let mut partial = self.path.as_os_str().to_owned();
        partial.push(".partial");
        std::fs::write(&partial, checkpoint.as_str())?;
        std::fs::rename(&partial, &self.path)?;
        Ok(())
    }
}

/// A publisher that calls a function.
pub struct FnPublisher<F>(pub F);

impl<F> CheckpointPublisher for FnPublisher<F>
where
    F: Fn(&SignedCheckpoint) -> Result<(), BoxError> + Send + Sync + 'static,
{
    fn publish(&self, checkpoint: &SignedCheckpoint) -> Result<(), BoxError> {
        (self.0)(checkpoint)
    }
}

/// How a store signs checkpoints: every `every_events` appended events (checked in the
/// append's own transaction), every `every` while the tree grew (a timer), and when the
/// sink shuts down.
///
/// ```
/// use std::time::Duration;
/// use audit_core::tlog::{CheckpointPolicy, CheckpointSigner, FilePublisher};
///
/// let signer = CheckpointSigner::generate("audit.example.com/ftms")?;
/// let policy = CheckpointPolicy::new(signer)
///     .every_events(10_000)
///     .every(Duration::from_secs(30))
///     .publisher(FilePublisher::new("/var/lib/witness/checkpoint"));
/// assert_eq!(policy.events_between(), 10_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CheckpointPolicy {
    signer: CheckpointSigner,
    every_events: u64,
    every: Option<Duration>,
    publisher: Option<Arc<dyn CheckpointPublisher>>,
}

impl fmt::Debug for CheckpointPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointPolicy")
            .field("signer", &self.signer)
            .field("every_events", &self.every_events)
            .field("every", &self.every)
            .field("publisher", &self.publisher.is_some())
            .finish()
    }
}

impl CheckpointPolicy {
    /// Signs with `signer` every 1 000 events and every 60 s, publishing nowhere.
    pub fn new(signer: CheckpointSigner) -> Self {
        Self {
            signer,
            every_events: 1_000,
            every: Some(Duration::from_secs(60)),
            publisher: None,
        }
    }

    /// Sign once at least `n` events were appended since the newest checkpoint (at least 1).
    pub fn every_events(mut self, n: u64) -> Self {
        self.every_events = n.max(1);
        self
    }

    /// Sign every `interval` if the tree grew since the newest checkpoint.
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = Some(interval);
        self
    }

    /// No timer: sign only by event count and at shutdown.
    pub fn without_timer(mut self) -> Self {
        self.every = None;
        self
    }

    /// Hands every signed checkpoint to `publisher`.
    pub fn publisher(mut self, publisher: impl CheckpointPublisher) -> Self {
        self.publisher = Some(Arc::new(publisher));
        self
    }

    /// The signer.
    pub fn signer(&self) -> &CheckpointSigner {
        &self.signer
    }

    /// Events between checkpoints.
    pub fn events_between(&self) -> u64 {
        self.every_events
    }

    /// The timer's interval, if any.
    pub fn interval(&self) -> Option<Duration> {
        self.every
    }

    /// Whether a tree of `size` leaves is due a checkpoint when the newest one has
    /// `last_size`.
    pub fn due(&self, last_size: u64, size: u64) -> bool {
        size >= last_size.saturating_add(self.every_events)
    }

    /// Hands `checkpoint` to the publisher, logging (never returning) its error. A
    /// publisher that panics is contained here: it runs on a store's writer, which must
    /// keep writing.
    pub fn publish(&self, checkpoint: &SignedCheckpoint) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            publisher.publish(checkpoint)
        }));
        let err = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(err)) => err.to_string(),
            Err(_) => "the publisher panicked".to_owned(),
        };
        tracing::error!(
            size = checkpoint.head().size,
            %err,
            "audit checkpoint publisher failed; the checkpoint is stored in the log"
        );
    }
}

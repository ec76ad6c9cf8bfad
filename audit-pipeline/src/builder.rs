//! Configuring and starting an [`Auditor`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::Auditor;
use crate::error::{BuildError, ErrorHook, PipelineError};
use crate::overflow::OverflowPolicy;
use crate::retry::RetryPolicy;
use crate::shared::Shared;
use crate::sink_runner::SinkRunner;
use crate::spool::Spool;
use crate::worker::Worker;
use audit_core::observer::EventObserver;
use audit_core::redact::Redactor;
use audit_core::sink::AuditSink;

/// Configures an [`Auditor`]; start with [`Auditor::builder`].
///
/// ```
/// use std::time::Duration;
/// use audit_pipeline::Auditor;
/// use audit_core::sinks::MemorySink;
/// use audit_pipeline::{OverflowPolicy, RetryPolicy};
///
/// let dir = tempfile::tempdir().unwrap();
/// let auditor = Auditor::builder(MemorySink::new())
///     .queue_capacity(10_000)
///     .max_batch_size(500)
///     .max_linger(Duration::from_millis(5))
///     .overflow(OverflowPolicy::Block)
///     .retry(RetryPolicy::default().max_attempts(5))
///     .spool_dir(dir.path())
///     .on_error(|err| eprintln!("audit pipeline: {err}"))
///     .build()
///     .unwrap();
/// auditor.shutdown_blocking().unwrap();
/// ```
#[must_use = "an auditor builder does nothing until `build` is called"]
pub struct AuditorBuilder {
    sink: Arc<dyn AuditSink>,
    capacity: usize,
    max_overflow: Option<usize>,
    max_batch: usize,
    linger: Duration,
    overflow: OverflowPolicy,
    retry: RetryPolicy,
    spool_dir: Option<PathBuf>,
    redactor: Redactor,
    observers: Vec<Arc<dyn EventObserver>>,
    on_error: Option<ErrorHook>,
    guard_timeout: Duration,
    write_timeout: Duration,
    thread_name: String,
}

impl std::fmt::Debug for AuditorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditorBuilder")
            .field("capacity", &self.capacity)
            .field("max_overflow", &self.max_overflow)
            .field("max_batch", &self.max_batch)
            .field("linger", &self.linger)
            .field("overflow", &self.overflow)
            .field("retry", &self.retry)
            .field("spool_dir", &self.spool_dir)
            .field("observers", &self.observers.len())
            .finish_non_exhaustive()
    }
}

impl AuditorBuilder {
    pub(crate) fn new(sink: Arc<dyn AuditSink>) -> Self {
        Self {
            sink,
            capacity: 8192,
            max_overflow: None,
            max_batch: 4096,
            linger: Duration::ZERO,
            overflow: OverflowPolicy::default(),
            retry: RetryPolicy::default(),
            spool_dir: None,
            redactor: Redactor::default(),
            observers: Vec::new(),
            on_error: None,
            guard_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
            thread_name: "audit-worker".into(),
        }
    }

    /// How many events may wait in memory for the worker (default 8192).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How many events the queue may take past its capacity when `record` must not wait:
    /// a caller in a tokio current-thread runtime under [`OverflowPolicy::Block`], or an
    /// overflow spool file that cannot be opened under [`OverflowPolicy::Spool`] (default:
    /// the queue capacity, so the queue never holds more than twice its capacity).
    ///
    /// Past that, `record` writes the event to the overflow spool file when a
    /// [`spool_dir`](Self::spool_dir) is set, and drops it otherwise (counted in
    /// [`Metrics::dropped`](crate::Metrics::dropped)). Zero is allowed: no
    /// overflow in memory at all.
    pub fn max_overflow(mut self, events: usize) -> Self {
        self.max_overflow = Some(events);
        self
    }

    /// The most events handed to the sink in one `write` (default 4096).
    ///
    /// The worker takes only what is already queued (unless [`max_linger`](Self::max_linger)
    /// is set), so a large cap adds no latency under light traffic; under a backlog it lets
    /// a store commit thousands of events per transaction (one fsync) instead of hundreds:
    /// 52–62k events/s at 256 against 87–98k at 4096 into SQLite at 1M events (the
    /// `sqlite` bench). Lower it for sinks with a payload limit.
    pub fn max_batch_size(mut self, size: usize) -> Self {
        self.max_batch = size.max(1);
        self
    }

    /// How long the worker waits for a batch to fill before writing it anyway (default
    /// zero: write what is there, so batches grow only while the sink is busy). A `flush`
    /// or `shutdown` cuts the wait short.
    pub fn max_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// What `record` does when the queue is full (default [`OverflowPolicy::Block`]).
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// How failed writes are retried before the batch is spooled.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Where to spool batches the sink cannot take, so they survive a crash and are
    /// replayed on the next start. Without it the spool lives in memory, bounded to the
    /// queue's capacity in events: an outage loses nothing while the process runs (past the
    /// bound the worker stops taking from the queue, which fills and applies the
    /// [`OverflowPolicy`]: callers wait under `Block`, events are dropped and counted under
    /// `DropNewest`), but events still spooled at exit are only logged.
    /// One process per directory: `build` fails while another live process holds it.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// Replaces the default [`Redactor`].
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Adds an observer that sees every prepared event on the worker; the events it
    /// returns are recorded too (they are not shown to observers again, so rules cannot
    /// loop).
    pub fn observer(mut self, observer: impl EventObserver) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Calls `hook` for every problem the pipeline handles on its own (invalid events,
    /// sink failures, spool errors, drops). It runs on the worker (or on a recording thread
    /// for drops), so it must be quick.
    pub fn on_error(mut self, hook: impl Fn(&PipelineError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// The longest the worker waits for one call of the sink (`write`, `flush`, `shutdown`;
    /// default 5 s). A write that misses it counts as a retryable failure: the call is
    /// cancelled, and the batch retried or spooled (a store that committed it anyway
    /// acknowledges the replay by event id). The sink runs on a thread of its own, so even a
    /// sink that blocks its thread cannot hold up the worker past this.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long an [`AuditorGuard`](crate::AuditorGuard) waits on drop for the
    /// pipeline to drain (default 10 s).
    pub fn guard_timeout(mut self, timeout: Duration) -> Self {
        self.guard_timeout = timeout;
        self
    }

    /// The worker thread's name (default `audit-worker`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Opens the spool (queueing what a previous process left there for replay) and starts
    /// the worker thread.
    pub fn build(self) -> Result<Auditor, BuildError> {
        if self.overflow == OverflowPolicy::Spool && self.spool_dir.is_none() {
            return Err(BuildError::Config(
                "OverflowPolicy::Spool needs a spool directory (AuditorBuilder::spool_dir)",
            ));
        }
        let spool = Spool::open(self.spool_dir.as_deref()).map_err(|source| BuildError::Spool {
            path: self.spool_dir.clone().unwrap_or_default(),
            source,
        })?;
        // The worker runs its own single-threaded runtime, so it makes progress whatever
        // the callers do with theirs (including blocking a current-thread runtime).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(BuildError::Worker)?;
        let shared = Arc::new(Shared::new(
            self.capacity,
            self.overflow,
            self.redactor,
            self.on_error,
            self.spool_dir,
            self.max_overflow.unwrap_or(self.capacity),
            spool.ids(),
        ));
        shared.set_spool_pending(spool.pending());
        let sink = SinkRunner::start(
            self.sink,
            self.write_timeout,
            format!("{}-sink", self.thread_name),
        )
        .map_err(BuildError::Worker)?;
        let worker = Worker::new(
            Arc::clone(&shared),
            sink,
            spool,
            self.observers,
            self.retry,
            self.max_batch,
            self.linger,
        )
        .memory_spool_limit(self.capacity as u64);
        let on_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || {
                let _ = on_thread.worker_thread.set(std::thread::current().id());
                drop(on_thread);
                runtime.block_on(worker.run());
            })
            .map_err(BuildError::Worker)?;
        *shared
            .worker_join
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(thread);
        Ok(Auditor::from_shared(shared, self.guard_timeout))
    }
}

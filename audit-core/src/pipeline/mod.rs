//! The [`Auditor`] pipeline: a bounded queue, a batching worker, retry, spool and replay.
//!
//! ```text
//! record ─▶ bounded queue ─▶ worker: prepare (context, redaction, validation), observers
//!              │ full?                  │
//!              └─ OverflowPolicy        └─▶ sink.write(batch) ─ error ─▶ retry with backoff
//!                                                  ▲                        │ still failing
//!                                                  └──── replay in order ◀── spool (files)
//! ```
//!
//! - [`Auditor::record`] is cheap: it captures the current [`AuditContext`] (an `Arc`
//!   clone) and queues the event; it waits only when the queue is full (see
//!   [`OverflowPolicy`]). Validation, redaction and the context merge happen on the
//!   worker, where explicit event fields win over the context.
//! - The worker runs on its own thread with its own single-threaded tokio runtime, so the
//!   pipeline works from plain synchronous code (a CLI), and from inside multi-thread and
//!   current-thread runtimes, and the `*_blocking` calls cannot deadlock: nothing they wait
//!   for needs the caller's runtime.
//! - Nothing is lost by default: a full queue makes the caller wait, so memory stays
//!   bounded ([`OverflowPolicy::Block`], which also says what `record` does instead in a
//!   current-thread runtime, where waiting could starve the sink); a failing sink is
//!   retried ([`RetryPolicy`]), then the batch is spooled and replayed in order, before
//!   newer events, once the sink recovers. With [`spool_dir`](AuditorBuilder::spool_dir),
//!   a spool left by a crashed process is replayed on the next start (see [the spool
//!   format](spool)). A batch the sink rejects for good is written one event at a time,
//!   and only the refused events go to a dead-letter file.
//! - An invalid event never reaches the caller as an error: it is reported (`tracing`,
//!   [`Metrics::invalid`], the [`on_error`](AuditorBuilder::on_error) hook) and an
//!   `AUDIT_EVENT_INVALID` event is written in its place.
//!
//! ```
//! use audit_core::{Actor, AuditContext, AuditEvent, Auditor, sinks::MemorySink};
//!
//! let sink = MemorySink::new();
//! let auditor = Auditor::builder(sink.clone()).build().unwrap();
//! let _guard = auditor.guard(); // drains the queue when main returns
//!
//! AuditContext::new().actor(Actor::user("alice")).sync_scope(|| {
//!     auditor.record(AuditEvent::builder("USER_LOGIN").build());
//! });
//! auditor.flush_blocking().unwrap();
//! assert_eq!(sink.events()[0].actor, Some(Actor::user("alice")));
//! assert_eq!(auditor.metrics().written, 1);
//! ```
//!
//! In async code, await [`Auditor::record_async`] for backpressure, and
//! [`Auditor::record_durable`] when the caller must know the event is committed:
//!
//! ```
//! use audit_core::{AuditEvent, Auditor, sinks::MemorySink};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let auditor = Auditor::builder(MemorySink::new()).build().unwrap();
//! let receipt = auditor
//!     .record_durable(AuditEvent::builder("PAYMENT_CAPTURED").build())
//!     .await
//!     .unwrap();
//! assert_eq!(receipt.position.unwrap().seq, 1);
//! auditor.shutdown().await.unwrap();
//! # });
//! ```
//!
//! Delivery is at least once: a crash between a sink commit and the removal of the spool
//! file it came from replays that batch again. Event ids identify duplicates.

mod builder;
mod error;
mod guard;
mod metrics;
mod overflow;
pub(crate) mod prepare;
mod queue;
mod retry;
pub mod spool;
mod worker;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::context::AuditContext;
use crate::event::AuditEvent;
use crate::redact::Redactor;
use crate::sink::{AuditSink, Receipt};

pub use builder::AuditorBuilder;
pub use error::{BuildError, PipelineError, RecordError};
pub use guard::AuditorGuard;
pub use metrics::Metrics;
pub use overflow::OverflowPolicy;
pub use prepare::INVALID_EVENT_ACTION;
pub use retry::RetryPolicy;

use builder::ErrorHook;
use metrics::{Counters, add};
pub(crate) use queue::Recorded;
use queue::{Control, Queue, Reply, State};
use spool::{Lane, SpoolRecord};

/// What the recording side and the worker share.
pub(crate) struct Shared {
    queue: Queue,
    counters: Counters,
    overflow: OverflowPolicy,
    redactor: Redactor,
    on_error: Option<ErrorHook>,
    spool_dir: Option<PathBuf>,
    /// How far past its capacity the queue may grow when `record` cannot wait
    /// ([`AuditorBuilder::max_overflow`]).
    max_overflow: usize,
    /// File ids shared with the spool, so lane and segment names sort by creation.
    file_ids: Arc<AtomicU64>,
    warned_drop: AtomicBool,
    warned_over: AtomicBool,
    warned_loss: AtomicBool,
    /// The worker's thread: waiting for the worker there would wait forever.
    worker_thread: std::sync::OnceLock<std::thread::ThreadId>,
}

impl Shared {
    fn new(
        capacity: usize,
        overflow: OverflowPolicy,
        redactor: Redactor,
        on_error: Option<ErrorHook>,
        spool_dir: Option<PathBuf>,
        max_overflow: usize,
        file_ids: Arc<AtomicU64>,
    ) -> Self {
        Self {
            queue: Queue::new(capacity),
            max_overflow,
            counters: Counters::default(),
            overflow,
            redactor,
            on_error,
            spool_dir,
            file_ids,
            warned_drop: AtomicBool::new(false),
            warned_over: AtomicBool::new(false),
            warned_loss: AtomicBool::new(false),
            worker_thread: std::sync::OnceLock::new(),
        }
    }

    fn set_spool_pending(&self, pending: u64) {
        self.counters
            .spool_pending
            .store(pending, Ordering::Relaxed);
    }

    /// Reports a problem the pipeline handled: `tracing` and the hook.
    fn report(&self, error: PipelineError) {
        match &error {
            // Drops are reported once through tracing (they can come in floods); the hook
            // and the counter see every one. Under `Block` a drop is unexpected data loss.
            PipelineError::QueueFull if self.overflow == OverflowPolicy::Block => {
                if !self.warned_loss.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        error = %error,
                        "audit events are being LOST: the queue and its overflow allowance \
                         are full in a current-thread runtime and there is no spool directory; \
                         use Auditor::record_async or AuditorBuilder::spool_dir (see \
                         Metrics::dropped)"
                    );
                }
            }
            PipelineError::QueueFull | PipelineError::Closed => {
                if !self.warned_drop.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %error, "audit events are being dropped; see Metrics::dropped");
                }
            }
            _ => tracing::error!(error = %error, "audit pipeline"),
        }
        if let Some(hook) = &self.on_error {
            // A hook that records an event may trigger another report (a full queue under
            // the drop policy): report that one through tracing only, instead of recursing.
            let reentered = IN_HOOK.with(|flag| flag.replace(true));
            if !reentered {
                let _reset = ResetOnDrop;
                // A hook bug must not stop the worker (which would strand the batch in
                // hand) nor unwind into a recording caller.
                let called = std::panic::catch_unwind(AssertUnwindSafe(|| hook(&error)));
                if called.is_err() {
                    tracing::error!("the audit pipeline's error hook panicked");
                }
            }
        }
    }

    fn drop_event(&self, why: PipelineError) {
        add(&self.counters.dropped, 1);
        self.report(why);
    }

    /// Accepts an event into the queue (the lock is held by the caller).
    fn accept(&self, state: &mut State, recorded: Recorded) {
        state.push(recorded, None);
        add(&self.counters.enqueued, 1);
    }

    /// Writes an event to the overflow lane (the lock is held, which keeps lane order equal
    /// to ticket order). The event is prepared here so nothing unredacted reaches the disk.
    ///
    /// Problems are returned, to be reported once the lock is released: the error hook may
    /// record an event itself.
    #[must_use]
    fn spill(&self, state: &mut State, mut recorded: Recorded) -> Vec<Problem> {
        let mut problems = Vec::new();
        if state.lane.is_none() {
            let id = self.file_ids.fetch_add(1, Ordering::SeqCst);
            let Some(dir) = &self.spool_dir else {
                // `build` refuses Spool without a directory; keep the event if it fits.
                self.accept_or_drop(state, recorded, &mut problems);
                return problems;
            };
            match Lane::create(dir, id) {
                Ok(lane) => state.lane = Some(lane),
                Err(source) => {
                    problems.push(Problem::Error(PipelineError::Spool {
                        path: dir.clone(),
                        source,
                    }));
                    self.accept_or_drop(state, recorded, &mut problems);
                    return problems;
                }
            }
        }
        if state
            .lane
            .as_ref()
            .is_some_and(|lane| lane.memory.len() >= self.queue.capacity)
        {
            // The lane cannot write to its file (reported when the write failed) and holds
            // a queue's worth in memory already: taking more would make memory grow with
            // the flood. The queue is no way out either, as its events would overtake
            // older lane records. So this one is dropped, counted and reported.
            add(&self.counters.dropped, 1);
            problems.push(Problem::Error(PipelineError::QueueFull));
            return problems;
        }
        recorded.settle();
        let Recorded { event, ctx, .. } = recorded;
        let event = match prepare::prepare(event, ctx.as_deref(), &self.redactor) {
            Ok(event) => event,
            Err(invalid) => {
                let stand_in = invalid.stand_in.clone();
                problems.push(Problem::Invalid(invalid));
                stand_in
            }
        };
        state.last_ticket += 1;
        let record = SpoolRecord {
            observed: false,
            ticket: Some(state.last_ticket),
            event,
        };
        if let Some(lane) = &mut state.lane
            && let Err(source) = lane.append(record)
        {
            let path = lane.path.clone();
            problems.push(Problem::Error(PipelineError::Spool { path, source }));
        }
        add(&self.counters.enqueued, 1);
        add(&self.counters.spooled, 1);
        problems
    }

    /// Handles an event that finds the queue full when the caller must not wait (a
    /// current-thread runtime under [`OverflowPolicy::Block`]); the lock is held.
    ///
    /// The queue takes it while it holds fewer than capacity + `max_overflow` events and no
    /// overflow lane is open (a lane's events are older and must be written first); past
    /// that it goes to the overflow lane if there is a spool directory, and is dropped
    /// otherwise.
    #[must_use]
    fn overflow_without_waiting(&self, state: &mut State, recorded: Recorded) -> Vec<Problem> {
        if state.lane.is_none() && state.items.len() < self.ceiling() {
            self.accept_over_capacity(state, recorded);
            return vec![Problem::OverCapacity];
        }
        if self.spool_dir.is_some() {
            return self.spill(state, recorded);
        }
        let mut problems = Vec::new();
        self.accept_or_drop(state, recorded, &mut problems);
        problems
    }

    /// The most events the queue ever holds: its capacity plus `max_overflow`.
    fn ceiling(&self) -> usize {
        self.queue.capacity.saturating_add(self.max_overflow)
    }

    /// Accepts an event past capacity if the queue is below its ceiling, and otherwise
    /// drops it (counted now, reported once the lock is released).
    fn accept_or_drop(&self, state: &mut State, recorded: Recorded, problems: &mut Vec<Problem>) {
        if state.items.len() < self.ceiling() {
            self.accept_over_capacity(state, recorded);
            problems.push(Problem::OverCapacity);
        } else {
            add(&self.counters.dropped, 1);
            problems.push(Problem::Error(PipelineError::QueueFull));
        }
    }

    /// Accepts an event past the queue's capacity (the lock is held); the caller warns
    /// with [`warn_over_capacity`](Self::warn_over_capacity) once the lock is released.
    fn accept_over_capacity(&self, state: &mut State, recorded: Recorded) {
        self.accept(state, recorded);
        add(&self.counters.over_capacity, 1);
    }

    fn warn_over_capacity(&self) {
        if !self.warned_over.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "audit queue full: accepting events past its capacity (up to max_overflow) \
                 rather than blocking a current-thread async executor; use \
                 Auditor::record_async in async code for backpressure"
            );
        }
    }

    fn report_problems(&self, problems: Vec<Problem>) {
        for problem in problems {
            match problem {
                Problem::Error(error) => self.report(error),
                Problem::Invalid(invalid) => self.report_invalid(&invalid),
                Problem::OverCapacity => self.warn_over_capacity(),
            }
        }
    }

    fn report_invalid(&self, invalid: &prepare::Invalid) {
        add(&self.counters.invalid, 1);
        self.report(PipelineError::InvalidEvent {
            id: invalid.original.id,
            action: invalid.original.action.chars().take(128).collect(),
            source: invalid.error.clone(),
        });
    }
}

thread_local! {
    static IN_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Clears [`IN_HOOK`] when the hook returns or panics.
struct ResetOnDrop;

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        IN_HOOK.with(|flag| flag.set(false));
    }
}

/// Something to report after the queue lock is released.
enum Problem {
    Error(PipelineError),
    Invalid(Box<prepare::Invalid>),
    OverCapacity,
}

/// How `record` may wait for room under [`OverflowPolicy::Block`] on the current thread.
enum Wait {
    /// No tokio runtime: block the thread on the condvar.
    Thread,
    /// A multi-thread runtime: block inside `block_in_place`, which hands this worker's
    /// other tasks to another thread, so the runtime keeps running them and their I/O.
    InPlace,
    /// A current-thread runtime: blocking would stop every task on it (possibly the very
    /// one the sink needs), so `record` must not wait.
    No,
}

fn how_to_wait() -> Wait {
    match tokio::runtime::Handle::try_current() {
        Err(_) => Wait::Thread,
        Ok(handle) => match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => Wait::InPlace,
            // Current-thread, and any flavor tokio adds later: never risk a panic.
            _ => Wait::No,
        },
    }
}

/// Waits for room inside `block_in_place`; `None` if tokio refuses it here.
///
/// The handle can say "multi-thread" on a thread where `block_in_place` still panics (a
/// multi-thread runtime entered with `Handle::enter` from inside a current-thread runtime or
/// a `LocalSet`). It panics before running the closure, so nothing is lost: `record` then
/// takes the current-thread path. `record` must never unwind into its caller.
fn wait_in_place(queue: &Queue) -> Option<std::sync::MutexGuard<'_, State>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        tokio::task::block_in_place(|| queue.wait_for_room_blocking())
    }))
    .ok()
}

/// Asks the worker to drain and stop when the last [`Auditor`] clone is dropped.
struct Handle {
    shared: Arc<Shared>,
    guard_timeout: Duration,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.shared.queue.control(Control::Shutdown { reply: None });
    }
}

/// The audit pipeline: cheap to clone and share; every clone feeds the same worker.
///
/// Build one with [`Auditor::builder`]. See the [module docs](crate::pipeline) for the
/// design and guarantees. When the last clone is dropped, the worker drains the queue and
/// stops on its own; to be sure everything is written before the process exits, call
/// [`shutdown`](Self::shutdown) or hold a [`guard`](Self::guard).
#[derive(Clone)]
pub struct Auditor {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("overflow", &self.shared().overflow)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Starts configuring an auditor that writes to `sink`.
    pub fn builder(sink: impl AuditSink) -> AuditorBuilder {
        AuditorBuilder::new(Arc::new(sink))
    }

    fn from_shared(shared: Arc<Shared>, guard_timeout: Duration) -> Self {
        Self {
            handle: Arc::new(Handle {
                shared,
                guard_timeout,
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Records `event` with the current [`AuditContext`]. Never fails and never panics.
    ///
    /// Returns at once while the queue has room. When it is full, the [`OverflowPolicy`]
    /// decides; under the default [`Block`](OverflowPolicy::Block):
    ///
    /// - on a plain thread (no tokio runtime), `record` waits for room;
    /// - inside a tokio multi-thread runtime, it waits for room inside
    ///   [`tokio::task::block_in_place`]: memory stays bounded, and the runtime keeps
    ///   running its other tasks and I/O meanwhile (so a sink that uses the caller's
    ///   runtime still progresses), but the calling task, and any future joined or
    ///   selected with it in the same task, is held up until the worker makes room;
    /// - inside a current-thread runtime, where blocking could starve the sink, it does not
    ///   wait: the queue takes up to [`max_overflow`](AuditorBuilder::max_overflow) events
    ///   past its capacity ([`Metrics::over_capacity`]); beyond that the event goes to the
    ///   overflow spool file if a [`spool_dir`](AuditorBuilder::spool_dir) is set (nothing
    ///   is lost, order is kept), and is otherwise **dropped** ([`Metrics::dropped`],
    ///   reported as [`PipelineError::QueueFull`]).
    ///
    /// In async code, [`record_async`](Self::record_async) is the better call in every
    /// runtime flavor: it waits for room without holding up a thread.
    pub fn record(&self, event: AuditEvent) {
        self.record_with_context(event, AuditContext::current());
    }

    /// Records `event` with an explicitly captured context (`None`: no context).
    pub fn record_with_context(&self, event: AuditEvent, ctx: Option<Arc<AuditContext>>) {
        self.submit(Recorded::new(event, ctx));
    }

    /// [`record_with_context`](Self::record_with_context) with the facts whose metadata
    /// entries the worker adds.
    pub(crate) fn submit(&self, recorded: Recorded) {
        let shared = self.shared();
        let queue = &shared.queue;
        let mut state = queue.lock();
        if state.closing {
            drop(state);
            return shared.drop_event(PipelineError::Closed);
        }
        if state.has_room(queue.capacity) {
            shared.accept(&mut state, recorded);
            drop(state);
            return queue.wake_worker();
        }
        match shared.overflow {
            OverflowPolicy::DropNewest => {
                drop(state);
                shared.drop_event(PipelineError::QueueFull);
            }
            OverflowPolicy::Spool => {
                let problems = shared.spill(&mut state, recorded);
                drop(state);
                queue.wake_worker();
                shared.report_problems(problems);
            }
            OverflowPolicy::Block => {
                let mut state = match how_to_wait() {
                    Wait::Thread => {
                        drop(state);
                        queue.wait_for_room_blocking()
                    }
                    Wait::InPlace => {
                        drop(state);
                        // `None`: tokio refused `block_in_place` on this thread.
                        wait_in_place(queue).unwrap_or_else(|| queue.lock())
                    }
                    Wait::No => state,
                };
                if state.closing {
                    drop(state);
                    return shared.drop_event(PipelineError::Closed);
                }
                if state.has_room(queue.capacity) {
                    shared.accept(&mut state, recorded);
                    drop(state);
                    return queue.wake_worker();
                }
                // A current-thread runtime: bounded overflow, then the lane or a drop.
                let problems = shared.overflow_without_waiting(&mut state, recorded);
                drop(state);
                queue.wake_worker();
                shared.report_problems(problems);
            }
        }
    }

    /// Records `event`, waiting (asynchronously) for room in the queue under
    /// [`OverflowPolicy::Block`]; under the other policies it is [`record`](Self::record).
    ///
    /// The recommended call in async code: real backpressure, bounded memory and no loss,
    /// without blocking the executor, in multi-thread and current-thread runtimes alike.
    pub async fn record_async(&self, event: AuditEvent) {
        let ctx = AuditContext::current();
        let shared = self.shared();
        if shared.overflow != OverflowPolicy::Block {
            return self.record_with_context(event, ctx);
        }
        let accepted = shared
            .queue
            .with_room(|state| {
                if state.closing {
                    return false;
                }
                shared.accept(state, Recorded::new(event, ctx));
                true
            })
            .await;
        if accepted {
            shared.queue.wake_worker();
        } else {
            shared.drop_event(PipelineError::Closed);
        }
    }

    /// Records `event` and resolves once the sink has committed it, with its place in the
    /// chain for sinks that keep one.
    ///
    /// Waits for room in the queue whatever the overflow policy (the caller is waiting
    /// anyway); under [`OverflowPolicy::Spool`] that includes waiting for the overflow lane
    /// to drain, so that the event is not written before older spilled ones. If the sink is
    /// down, the event is spooled and the call resolves when a replay commits it, or with
    /// [`RecordError::Spooled`] at shutdown. An invalid event resolves with
    /// [`RecordError::Invalid`] (an `AUDIT_EVENT_INVALID` event is written in its place).
    pub async fn record_durable(&self, event: AuditEvent) -> Result<Receipt, RecordError> {
        let ctx = AuditContext::current();
        let shared = self.shared();
        let (tx, rx) = oneshot::channel();
        let accepted = shared
            .queue
            .with_room(|state| {
                if state.closing {
                    return false;
                }
                state.push(Recorded::new(event, ctx), Some(tx));
                true
            })
            .await;
        if !accepted {
            return Err(RecordError::Closed);
        }
        add(&shared.counters.enqueued, 1);
        shared.queue.wake_worker();
        rx.await.unwrap_or(Err(RecordError::Closed))
    }

    /// [`record_durable`](Self::record_durable) for synchronous code. Blocks the thread; safe
    /// inside a runtime too (the worker does not need it), but it stalls that thread.
    pub fn record_durable_blocking(&self, event: AuditEvent) -> Result<Receipt, RecordError> {
        self.not_on_worker()?;
        futures::executor::block_on(self.record_durable(event))
    }

    /// Resolves once every event recorded before the call is committed by the sink (then
    /// flushed) or safely spooled ([`RecordError::Spooled`]).
    pub async fn flush(&self) -> Result<(), RecordError> {
        let (tx, rx) = oneshot::channel();
        self.control_async(Control::Flush {
            through: 0,
            reply: Reply::Async(tx),
        })?;
        rx.await.unwrap_or(Err(RecordError::Closed))
    }

    /// [`flush`](Self::flush) for synchronous code (blocks the thread; never deadlocks).
    pub fn flush_blocking(&self) -> Result<(), RecordError> {
        self.blocking(|reply| Control::Flush { through: 0, reply }, None)
    }

    /// Drains the queue and the spool (as far as the sink allows), flushes and shuts the
    /// sink down, and stops the worker. Later `record` calls are counted as dropped.
    ///
    /// Resolves with [`RecordError::Spooled`] if the sink was still failing: the spooled
    /// events are replayed on the next start from the spool directory. Without a spool
    /// directory there is nowhere to keep them: [`RecordError::Unsaved`] says how many
    /// were only written to the `tracing` error log.
    pub async fn shutdown(&self) -> Result<(), RecordError> {
        let (tx, rx) = oneshot::channel();
        match self.control_async(Control::Shutdown {
            reply: Some(Reply::Async(tx)),
        }) {
            Err(RecordError::Closed) => return Ok(()),
            other => other?,
        }
        rx.await.unwrap_or(Ok(()))
    }

    /// [`shutdown`](Self::shutdown) for synchronous code (blocks the thread; never deadlocks).
    pub fn shutdown_blocking(&self) -> Result<(), RecordError> {
        self.shutdown_blocking_timeout(None)
    }

    /// [`shutdown_blocking`](Self::shutdown_blocking) that gives up waiting after `timeout`
    /// ([`RecordError::TimedOut`]); the worker goes on draining in the background.
    pub fn shutdown_blocking_timeout(
        &self,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<(), RecordError> {
        match self.blocking(
            |reply| Control::Shutdown { reply: Some(reply) },
            timeout.into(),
        ) {
            Err(RecordError::Closed) => Ok(()),
            other => other,
        }
    }

    /// A snapshot of the pipeline's counters.
    pub fn metrics(&self) -> Metrics {
        let queued = self.shared().queue.lock().items.len();
        self.shared().counters.snapshot(queued)
    }

    /// Whether [`shutdown`](Self::shutdown) was requested (new events are refused).
    pub fn is_shut_down(&self) -> bool {
        self.shared().queue.lock().closing
    }

    /// A guard that shuts the pipeline down (draining it) when dropped, waiting at most the
    /// builder's [`guard_timeout`](AuditorBuilder::guard_timeout).
    pub fn guard(&self) -> AuditorGuard {
        AuditorGuard::new(self.clone(), self.handle.guard_timeout)
    }

    /// Refuses to block the worker's own thread (from an observer, a sink or a hook), which
    /// would wait for itself forever.
    fn not_on_worker(&self) -> Result<(), RecordError> {
        match self.shared().worker_thread.get() {
            Some(id) if *id == std::thread::current().id() => Err(RecordError::OnWorkerThread),
            _ => Ok(()),
        }
    }

    fn control_async(&self, control: Control) -> Result<(), RecordError> {
        self.shared()
            .queue
            .control(control)
            .map_err(|_| RecordError::Closed)
    }

    fn blocking(
        &self,
        control: impl FnOnce(Reply) -> Control,
        timeout: Option<Duration>,
    ) -> Result<(), RecordError> {
        self.not_on_worker()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.control_async(control(Reply::Blocking(tx)))?;
        match timeout {
            None => rx.recv().unwrap_or(Err(RecordError::Closed)),
            Some(timeout) => match rx.recv_timeout(timeout) {
                Ok(result) => result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(RecordError::TimedOut),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(RecordError::Closed),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::sink::{BatchAck, SinkError};

    /// Holds every write until the test releases it.
    struct Gate(Arc<Semaphore>);

    #[async_trait]
    impl AuditSink for Gate {
        async fn write(&self, _batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
            let _permit = self.0.acquire().await;
            Ok(BatchAck::unchained())
        }
    }

    fn event(n: u64) -> AuditEvent {
        AuditEvent::builder("FTMS_BOOKING_CREATED")
            .entity("booking", n.to_string())
            .build()
    }

    #[test]
    fn a_lane_that_cannot_write_to_disk_stops_growing_at_the_queue_capacity() {
        let spool = tempfile::tempdir().expect("temp dir");
        let gate = Arc::new(Semaphore::new(0));
        let auditor = Auditor::builder(Gate(gate.clone()))
            .queue_capacity(4)
            .max_batch_size(1)
            .overflow(OverflowPolicy::Spool)
            .spool_dir(spool.path())
            .build()
            .expect("auditor");
        // The worker takes one event into a write that waits; four fill the queue; the
        // next ones open the overflow lane.
        for n in 0..12 {
            auditor.record(event(n));
            std::thread::sleep(Duration::from_millis(2));
        }
        let before = auditor.metrics();
        assert!(before.spooled > 0, "no lane opened: {before:?}");
        // Writes to the lane's file fail from now on: what it takes stays in memory.
        {
            let mut state = auditor.shared().queue.lock();
            let lane = state.lane.as_mut().expect("an open lane");
            while lane.memory.len() < 4 {
                lane.memory.push_back(SpoolRecord {
                    observed: false,
                    ticket: None,
                    event: event(99),
                });
            }
        }
        for n in 12..40 {
            auditor.record(event(n));
        }
        let after = auditor.metrics();
        let held = auditor
            .shared()
            .queue
            .lock()
            .lane
            .as_ref()
            .map_or(0, |lane| lane.memory.len());
        assert_eq!(held, 4, "the lane kept growing in memory");
        assert_eq!(after.dropped - before.dropped, 28, "{after:?}");
        assert_eq!(after.spooled, before.spooled, "{after:?}");
        gate.add_permits(1_000);
        drop(auditor.shutdown_blocking());
    }
}

//! The [`Auditor`]: the handle callers record through, and its part of the pipeline's
//! controls (flush, shutdown, metrics, scopes).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use audit_core::context::AuditContext;
use audit_core::dispatch;
use audit_core::event::AuditEvent;
use audit_core::recorder::{Recorded, Recorder};
use audit_core::sink::{AuditSink, Receipt};
use tokio::sync::oneshot;

use crate::builder::AuditorBuilder;
use crate::error::{PipelineError, RecordError};
use crate::guard::AuditorGuard;
use crate::metrics::{Metrics, add};
use crate::overflow::OverflowPolicy;
use crate::queue::{Control, Reply};
use crate::shared::Shared;
use crate::sink_runner::join_within;

/// Asks the worker to drain and stop when the last [`Auditor`] clone is dropped.
pub(crate) struct Handle {
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
/// Build one with [`Auditor::builder`]. See the [crate docs](crate) for the
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

    pub(crate) fn from_shared(shared: Arc<Shared>, guard_timeout: Duration) -> Self {
        Self {
            handle: Arc::new(Handle {
                shared,
                guard_timeout,
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
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
        submit(self.shared(), Recorded::new(event, ctx));
    }

    /// [`record_with_context`](Self::record_with_context) for an event already handed over
    /// as [`Recorded`] (with the facts whose metadata entries the worker adds).
    pub fn submit(&self, recorded: Recorded) {
        submit(self.shared(), recorded);
    }

    /// Records `event`, waiting (asynchronously) for room in the queue under
    /// [`OverflowPolicy::Block`]; under the other policies it is [`record`](Self::record).
    ///
    /// The recommended call in async code: real backpressure, bounded memory and no loss,
    /// without blocking the executor, in multi-thread and current-thread runtimes alike.
    pub async fn record_async(&self, event: AuditEvent) {
        submit_async(self.shared(), Recorded::new(event, AuditContext::current())).await;
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
        let result = rx.await.unwrap_or(Ok(()));
        self.worker_stopped().await;
        result
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
        let result = match self.blocking(
            |reply| Control::Shutdown { reply: Some(reply) },
            timeout.into(),
        ) {
            Err(RecordError::Closed) => Ok(()),
            other => other,
        };
        if !matches!(
            result,
            Err(RecordError::TimedOut | RecordError::OnWorkerThread)
        ) && let Some(thread) = self.take_worker_thread()
        {
            join_within(thread, Duration::from_secs(1), "worker");
        }
        result
    }

    /// The worker's thread, once (whoever shuts down first joins it).
    fn take_worker_thread(&self) -> Option<std::thread::JoinHandle<()>> {
        self.shared()
            .worker_join
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Waits (asynchronously, briefly) for the worker's thread to end after a shutdown.
    async fn worker_stopped(&self) {
        let Some(thread) = self.take_worker_thread() else {
            return;
        };
        for _ in 0..1000 {
            if thread.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        join_within(thread, Duration::ZERO, "worker");
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

impl Auditor {
    /// This auditor as a [`Recorder`], for [`dispatch::set_global_default`] and
    /// [`dispatch::with_recorder`]. Shares the auditor (no copy).
    pub fn recorder(&self) -> Arc<dyn Recorder> {
        self.handle.clone()
    }

    /// Installs this auditor as the process-wide default, once per process (see
    /// [`dispatch::set_global_default`]); events recorded before it are replayed into it.
    pub fn set_global_default(&self) -> Result<(), dispatch::SetGlobalDefaultError> {
        dispatch::set_global_default(self.recorder())
    }

    /// Runs `future` with this auditor as the target of `audit_core::record` and
    /// `#[audited]`, instead of the global default. Spawned work inherits it through
    /// `audit_core::context::spawn` and friends.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        dispatch::with_recorder(self.recorder(), future)
    }

    /// Runs `f` with this auditor as the target of `audit_core::record` on this thread.
    pub fn sync_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        dispatch::sync_with_recorder(self.recorder(), f)
    }
}

impl From<Auditor> for Arc<dyn Recorder> {
    fn from(auditor: Auditor) -> Self {
        auditor.handle
    }
}

impl Recorder for Handle {
    fn record(&self, recorded: Recorded) {
        submit(&self.shared, recorded);
    }

    fn record_async<'a>(
        &'a self,
        recorded: Recorded,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(submit_async(&self.shared, recorded))
    }
}

/// Queues an event, or hands a full queue's overflow to the policy.
fn submit(shared: &Shared, recorded: Recorded) {
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
    shared.submit_full(state, recorded);
}

/// [`submit`] that waits for room asynchronously under [`OverflowPolicy::Block`].
async fn submit_async(shared: &Shared, recorded: Recorded) {
    if shared.overflow != OverflowPolicy::Block {
        return submit(shared, recorded);
    }
    let accepted = shared
        .queue
        .with_room(|state| {
            if state.closing {
                return false;
            }
            shared.accept(state, recorded);
            true
        })
        .await;
    if accepted {
        shared.queue.wake_worker();
    } else {
        shared.drop_event(PipelineError::Closed);
    }
}

//! Where the sink runs: a thread of its own, so that a sink that hangs, blocks its thread or
//! panics can hold up neither the worker nor, through a full queue, the callers.
//!
//! The worker hands each call to the sink thread and waits for the answer with a deadline
//! ([`AuditorBuilder::write_timeout`](crate::AuditorBuilder::write_timeout)). A call that
//! misses it is abandoned: its task is cancelled (at its next `.await`; a sink that blocks
//! the thread is cancelled when it returns) and reported as a retryable failure, so the batch
//! goes to the spool and is replayed later. The store may still have committed it; replays
//! are idempotent by event id in every backend of this workspace (delivery is at least
//! once). Calls reach the sink one at a time, in order, as [`AuditSink`] promises.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use audit_core::event::AuditEvent;
use audit_core::sink::{AuditSink, BatchAck, SinkError};
use tokio::runtime::Handle;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::retry::later;

/// The sink's thread and the deadline of every call.
pub(crate) struct SinkRunner {
    sink: Arc<dyn AuditSink>,
    runtime: Handle,
    /// One call at a time: a cancelled call releases it when its task is dropped.
    turn: Arc<Mutex<()>>,
    timeout: Duration,
    /// Dropping it stops the thread's runtime once its tasks are done or cancelled.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SinkRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkRunner")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A call in flight on the sink thread.
pub(crate) struct Call<T> {
    task: JoinHandle<Result<T, SinkError>>,
    /// The task's output, once [`settled`](Self::settled) has taken it.
    output: Option<Result<Result<T, SinkError>, tokio::task::JoinError>>,
    deadline: Instant,
    what: &'static str,
    timeout: Duration,
}

impl<T> Call<T> {
    /// Waits until the answer is there or the deadline has passed, without taking it.
    pub(crate) async fn settled(&mut self) {
        if self.output.is_none() {
            match tokio::time::timeout_at(self.deadline, &mut self.task).await {
                Ok(output) => self.output = Some(output),
                // An answer that arrived as the deadline passed (a loaded machine wakes late)
                // is still the answer: taking it spares a batch that committed its replay.
                Err(_) if self.task.is_finished() => self.output = Some((&mut self.task).await),
                Err(_) => {}
            }
        }
    }

    /// The answer, or a retryable error once the deadline has passed (the call is then
    /// cancelled).
    pub(crate) async fn answer(&mut self) -> Result<T, SinkError> {
        self.settled().await;
        match self.output.take().ok_or(()) {
            Ok(Ok(result)) => result,
            Ok(Err(join)) if join.is_panic() => Err(SinkError::Unavailable {
                message: format!("the sink panicked while {}", self.what),
                source: None,
            }),
            Ok(Err(_)) => Err(SinkError::Unavailable {
                message: format!("the sink's call ({}) was cancelled", self.what),
                source: None,
            }),
            Err(_) => {
                self.task.abort();
                Err(SinkError::Unavailable {
                    message: format!(
                        "the sink did not answer within {:?} while {}",
                        self.timeout, self.what
                    ),
                    source: None,
                })
            }
        }
    }

    /// Whether the answer is there (or the deadline has passed): [`answer`](Self::answer)
    /// then returns at once.
    pub(crate) fn is_ready(&self) -> bool {
        self.output.is_some() || self.task.is_finished() || Instant::now() >= self.deadline
    }
}

impl Drop for SinkRunner {
    /// Stops the sink's thread and waits (briefly) for it to end, so a stopped auditor
    /// leaves no thread behind; a sink still blocking its thread is left to finish alone.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            join_within(thread, Duration::from_secs(1), "sink");
        }
    }
}

/// Joins `thread` if it ends within `limit`, reporting a panic; otherwise lets it go.
pub(crate) fn join_within(thread: std::thread::JoinHandle<()>, limit: Duration, what: &str) {
    let started = std::time::Instant::now();
    while !thread.is_finished() {
        if started.elapsed() >= limit {
            tracing::warn!("the audit {what} thread did not stop within {limit:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if thread.join().is_err() {
        tracing::error!("the audit {what} thread panicked");
    }
}

impl SinkRunner {
    /// Starts the sink's thread.
    pub(crate) fn start(
        sink: Arc<dyn AuditSink>,
        timeout: Duration,
        thread_name: String,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                // Runs the calls spawned onto it until the runner is dropped.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            sink,
            runtime: handle,
            turn: Arc::new(Mutex::new(())),
            timeout,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn call<T, F>(&self, what: &'static str, run: impl FnOnce(Arc<dyn AuditSink>) -> F) -> Call<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, SinkError>> + Send + 'static,
    {
        let turn = Arc::clone(&self.turn);
        let work = run(Arc::clone(&self.sink));
        let task = self.runtime.spawn(async move {
            let _turn = turn.lock().await;
            work.await
        });
        Call {
            task,
            output: None,
            deadline: later(self.timeout),
            what,
            timeout: self.timeout,
        }
    }

    /// Starts a `write` of `events`.
    pub(crate) fn start_write(&self, events: Arc<Vec<AuditEvent>>) -> Call<BatchAck> {
        self.call(
            "writing",
            move |sink| async move { sink.write(&events).await },
        )
    }

    /// One `write`, waited for.
    pub(crate) async fn write(&self, events: Arc<Vec<AuditEvent>>) -> Result<BatchAck, SinkError> {
        self.start_write(events).answer().await
    }

    /// The sink's `flush`, waited for.
    pub(crate) async fn flush(&self) -> Result<(), SinkError> {
        self.call("flushing", |sink| async move { sink.flush().await })
            .answer()
            .await
    }

    /// The sink's `shutdown`, waited for.
    pub(crate) async fn shutdown(&self) -> Result<(), SinkError> {
        self.call("shutting down", |sink| async move { sink.shutdown().await })
            .answer()
            .await
    }
}

//! The runtime a store's connections live on.
//!
//! A sqlx connection registers its socket with the reactor of the runtime it was opened in,
//! and a pool spawns its housekeeping (returning a connection, closing one) onto the runtime
//! current when a connection is dropped. A store used by a pipeline's worker thread, an
//! application's runtime and a test's runtime in turn would otherwise hold connections bound
//! to whichever of them happened to open them, and fail ("A Tokio 1.x context was found, but it
//! is being shutdown") once that runtime is gone. So every store starts a small runtime of its
//! own, and every future the store returns does its database work in that runtime's context
//! ([`StoreRuntime::run`]): the caller's executor only polls it, whichever it is.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::{Error, Result};

/// A store's own runtime: one worker thread that drives the store's sockets and timers and
/// runs its background tasks (the pool's housekeeping, the outbox relay). It is shut down when
/// the last clone of the store is dropped.
#[derive(Debug)]
pub(crate) struct StoreRuntime {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl StoreRuntime {
    /// Starts the runtime; `name` names its threads (`audit-pg`, `audit-mysql`).
    pub fn start(name: &'static str) -> Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let handle = runtime.handle().clone();
        Ok(Self {
            runtime: Some(runtime),
            handle,
        })
    }

    /// Runs `future` in this runtime's context: whatever it opens, spawns or drops belongs to
    /// the store's runtime, while the caller's executor polls it.
    pub fn run<F: Future>(&self, future: F) -> InRuntime<F> {
        InRuntime {
            handle: self.handle.clone(),
            future: Some(future),
        }
    }

    /// Spawns a background task onto this runtime.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }
}

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        // The last clone of a store may be dropped inside a task, even one of this runtime's
        // own (a relay); `shutdown_background` neither blocks nor panics there.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pin_project! {
    /// A future polled, and dropped, inside a store's runtime context ([`StoreRuntime::run`]).
    pub(crate) struct InRuntime<F> {
        handle: Handle,
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for InRuntime<F> {
        fn drop(this: Pin<&mut Self>) {
            // A future cancelled mid-query drops pooled connections, which spawn their return
            // to the pool: onto the store's runtime, not the caller's (or none).
            let mut this = this.project();
            let _context = this.handle.enter();
            this.future.set(None);
        }
    }
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _context = this.handle.enter();
        match this.future.as_mut().as_pin_mut() {
            Some(future) => {
                let output = std::task::ready!(future.poll(cx));
                // Dropped here, still inside the context, rather than in `PinnedDrop`.
                this.future.set(None);
                Poll::Ready(output)
            }
            None => Poll::Pending,
        }
    }
}

//! The one task-local slot that holds the current context and the scoped recorder, and the
//! calls that set it, read it and carry it into other tasks and threads.
//!
//! One slot for both, and each scope sets only what it is about: a context scope sets the
//! context and inherits the recorder, a recorder scope the other way round. An async scope
//! inherits at every poll from whatever surrounds it *then*, so the innermost scope wins for
//! each field however the futures were built (`auditor.scope(ctx.scope(fut))` and
//! `ctx.scope(auditor.scope(fut))` alike).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context::fields::AuditContext;
use crate::recorder::Recorder;

/// What the slot holds: the current context and the scoped recorder (each optional).
#[derive(Clone, Default)]
pub(crate) struct Frame {
    pub(crate) context: Option<Arc<AuditContext>>,
    pub(crate) recorder: Option<Arc<dyn Recorder>>,
}

tokio::task_local! {
    static FRAME: Frame;
}

/// What one scope does with one field of the frame.
#[derive(Clone)]
pub(crate) enum Setting<T> {
    /// Keep what surrounds the scope.
    Inherit,
    /// Replace it (`None` clears it).
    Set(Option<T>),
}

impl<T: Clone> Setting<T> {
    fn apply(&self, slot: &mut Option<T>) {
        if let Setting::Set(value) = self {
            slot.clone_from(value);
        }
    }
}

/// A scope's settings of the two fields.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) context: Setting<Arc<AuditContext>>,
    pub(crate) recorder: Setting<Arc<dyn Recorder>>,
}

impl Settings {
    /// The current frame with these settings applied.
    fn over_current(&self) -> Frame {
        let mut frame = current_frame();
        self.context.apply(&mut frame.context);
        self.recorder.apply(&mut frame.recorder);
        frame
    }
}

/// The current frame (empty outside any scope). Cheap: two `Arc` clones at most.
pub(crate) fn current_frame() -> Frame {
    FRAME.try_with(Clone::clone).unwrap_or_default()
}

/// The innermost scoped recorder, if any (the global default is not consulted).
pub(crate) fn scoped_recorder() -> Option<Arc<dyn Recorder>> {
    FRAME.try_with(|f| f.recorder.clone()).ok().flatten()
}

pin_project_lite::pin_project! {
    /// A future run inside a scope: at each poll, the frame around it with the scope's
    /// settings applied.
    pub(crate) struct Scoped<F> {
        #[pin]
        future: F,
        settings: Settings,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let frame = this.settings.over_current();
        let future = this.future;
        FRAME.sync_scope(frame, || future.poll(cx))
    }
}

/// Runs `future` inside a scope with `settings`.
pub(crate) fn enter<F: Future>(settings: Settings, future: F) -> Scoped<F> {
    Scoped { future, settings }
}

/// Runs `f` inside a scope with `settings`, on this thread.
pub(crate) fn sync_enter<R>(settings: Settings, f: impl FnOnce() -> R) -> R {
    FRAME.sync_scope(settings.over_current(), f)
}

/// Settings that set the context and inherit the recorder.
fn context_only(context: Option<Arc<AuditContext>>) -> Settings {
    Settings {
        context: Setting::Set(context),
        recorder: Setting::Inherit,
    }
}

/// Settings that set both fields to what is current now (`bind`).
fn everything_now() -> Settings {
    let frame = current_frame();
    Settings {
        context: Setting::Set(frame.context),
        recorder: Setting::Set(frame.recorder),
    }
}

impl AuditContext {
    /// A copy of the current context, or an empty one: the starting point for a nested scope
    /// that adds to its parent instead of replacing it.
    ///
    /// The nested scope is part of the same unit of work: completions made in it (see
    /// [`context::complete`](crate::context::complete)) are seen by the parent, and the
    /// parent's by it.
    ///
    /// ```
    /// use audit_core::{Actor, AuditContext};
    ///
    /// AuditContext::new().request_id("r-1").sync_scope(|| {
    ///     AuditContext::inherited().actor(Actor::user("bob")).sync_scope(|| {
    ///         let ctx = AuditContext::current().unwrap();
    ///         assert_eq!(ctx.request_id.as_deref(), Some("r-1"));
    ///         assert_eq!(ctx.actor.as_ref().map(|a| a.id.as_str()), Some("bob"));
    ///     })
    /// });
    /// ```
    pub fn inherited() -> Self {
        Self::current().map(|c| c.nested()).unwrap_or_default()
    }

    /// The context current on this task or thread, if any. Cheap: one `Arc` clone.
    ///
    /// Its public fields are what the scope was entered with; [`snapshot`](Self::snapshot)
    /// adds the fields completed since.
    pub fn current() -> Option<Arc<AuditContext>> {
        FRAME.try_with(|f| f.context.clone()).ok().flatten()
    }

    /// Runs `future` with this context current, across every `.await`.
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        scope_shared(Some(Arc::new(self)), future)
    }

    /// Runs `f` with this context current on this thread. Works without any async runtime.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        sync_scope_shared(Some(Arc::new(self)), f)
    }
}

/// Runs `future` with an already shared context current (`None` clears it).
///
/// For code that captured [`AuditContext::current`] and wants to re-enter it later.
pub fn scope_shared<F: Future>(
    ctx: Option<Arc<AuditContext>>,
    future: F,
) -> impl Future<Output = F::Output> {
    enter(context_only(ctx), future)
}

/// Runs `f` with an already shared context current on this thread (`None` clears it).
pub fn sync_scope_shared<R>(ctx: Option<Arc<AuditContext>>, f: impl FnOnce() -> R) -> R {
    sync_enter(context_only(ctx), f)
}

/// Wraps `future` so that, wherever it is polled, it sees the context (and scoped recorder)
/// current *now*. Use it to hand work to another executor or a job queue.
///
/// ```
/// use audit_core::{Actor, AuditContext, context};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let job = AuditContext::new()
///     .actor(Actor::service("billing"))
///     .sync_scope(|| context::bind(async { AuditContext::current() }));
/// // Polled later, outside the scope, it still sees the context it was bound to.
/// let seen = job.await.expect("bound context");
/// assert_eq!(seen.actor.as_ref().map(|a| a.id.as_str()), Some("billing"));
/// # });
/// ```
pub fn bind<F: Future>(future: F) -> impl Future<Output = F::Output> {
    enter(everything_now(), future)
}

/// Wraps `f` so that, on whichever thread it runs, it sees the context (and scoped recorder)
/// current *now*.
///
/// ```
/// use audit_core::{AuditContext, context};
///
/// let job = AuditContext::new()
///     .tenant("acme")
///     .sync_scope(|| context::bind_fn(|| AuditContext::current()));
/// let seen = std::thread::spawn(job).join().unwrap().expect("bound context");
/// assert_eq!(seen.tenant.as_deref(), Some("acme"));
/// ```
pub fn bind_fn<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let settings = everything_now();
    move || sync_enter(settings, f)
}

/// `tokio::spawn` that carries the current context (and scoped recorder) into the task.
///
/// Must be called from inside a tokio runtime, like `tokio::spawn`.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(bind(future))
}

/// `tokio::task::spawn_blocking` that carries the current context (and scoped recorder) into
/// the closure.
///
/// Must be called from inside a tokio runtime, like `tokio::task::spawn_blocking`.
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(bind_fn(f))
}

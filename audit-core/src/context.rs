//! Request context: who is acting, from where, in which request.
//!
//! An [`AuditContext`] is set once at the edge of a unit of work (an HTTP request, a job, a
//! CLI command) and every event recorded inside picks it up: empty fields of the event are
//! filled from the context, fields the event sets explicitly win.
//!
//! ```
//! use audit_core::{Actor, AuditContext};
//!
//! let ctx = AuditContext::new()
//!     .actor(Actor::user("alice"))
//!     .request_id("req-1");
//!
//! // Synchronous code: the context is current for the closure, on this thread.
//! ctx.clone().sync_scope(|| {
//!     let current = AuditContext::current().expect("inside a scope");
//!     assert_eq!(current.request_id.as_deref(), Some("req-1"));
//! });
//! assert!(AuditContext::current().is_none());
//!
//! // Async code: the context follows the future across `.await`, whichever thread polls it.
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! ctx.scope(async {
//!     tokio::task::yield_now().await;
//!     assert!(AuditContext::current().is_some());
//! })
//! .await;
//! # });
//! ```
//!
//! # One slot, innermost wins
//!
//! The context lives in one tokio task-local slot. [`AuditContext::scope`] sets it for a
//! future (restored on every poll, so it survives `.await` and work-stealing);
//! [`AuditContext::sync_scope`] sets it for a closure on the current thread, which works with
//! no runtime at all and nests like a stack. Because both write the same slot, the innermost
//! scope always wins, whether it is sync inside async or the other way round.
//!
//! # Crossing into other tasks and threads
//!
//! A spawned task or a `spawn_blocking` closure starts with no context. Carrying it is one
//! call: [`spawn`], [`spawn_blocking`], or, for other executors and job queues, [`bind`] and
//! [`bind_fn`]. These also carry a scoped auditor ([`Auditor::scope`](crate::Auditor::scope),
//! [`testing::capture`](crate::testing::capture)), so events recorded in the job reach the
//! same place as the caller's.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dispatch;
use crate::event::{Actor, AuditEvent};

tokio::task_local! {
    static CURRENT: Option<Arc<AuditContext>>;
}

/// Who is acting, from where, in which request, for which tenant.
///
/// Build it with [`AuditContext::new`] and the setters, then make it current with
/// [`scope`](Self::scope) or [`sync_scope`](Self::sync_scope). See the [module
/// docs](crate::context).
///
/// It is serializable, so a job queue that persists its jobs can persist the context of the
/// request that enqueued them, and re-enter it with [`sync_scope`](Self::sync_scope) or
/// [`scope`](Self::scope) when the job runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditContext {
    /// The principal performing the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The request id (correlates events with logs and traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The tenant, for multi-tenant services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl AuditContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the current context, or an empty one: the starting point for a nested scope
    /// that adds to its parent instead of replacing it.
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
        Self::current().map(|c| (*c).clone()).unwrap_or_default()
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets the client IP.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Sets the user agent.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sets the request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the session id.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The context current on this task or thread, if any. Cheap: one `Arc` clone.
    pub fn current() -> Option<Arc<AuditContext>> {
        CURRENT.try_with(Clone::clone).ok().flatten()
    }

    /// Runs `future` with this context current, across every `.await`.
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        scope_shared(Some(Arc::new(self)), future)
    }

    /// Runs `f` with this context current on this thread. Works without any async runtime.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        sync_scope_shared(Some(Arc::new(self)), f)
    }

    /// Fills the event's empty fields from this context. Fields the event already has win.
    pub fn apply_to(&self, event: &mut AuditEvent) {
        fill(&mut event.actor, &self.actor);
        fill(&mut event.ip, &self.ip);
        fill(&mut event.user_agent, &self.user_agent);
        fill(&mut event.request_id, &self.request_id);
        fill(&mut event.session_id, &self.session_id);
        fill(&mut event.tenant, &self.tenant);
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(from);
    }
}

/// Runs `future` with an already shared context current (`None` clears it).
///
/// For code that captured [`AuditContext::current`] and wants to re-enter it later.
pub fn scope_shared<F: Future>(
    ctx: Option<Arc<AuditContext>>,
    future: F,
) -> impl Future<Output = F::Output> {
    CURRENT.scope(ctx, future)
}

/// Runs `f` with an already shared context current on this thread (`None` clears it).
pub fn sync_scope_shared<R>(ctx: Option<Arc<AuditContext>>, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(ctx, f)
}

/// Wraps `future` so that, wherever it is polled, it sees the context (and scoped auditor)
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
    let ctx = AuditContext::current();
    let scoped = dispatch::scoped();
    dispatch::scope_option(scoped, CURRENT.scope(ctx, future))
}

/// Wraps `f` so that, on whichever thread it runs, it sees the context (and scoped auditor)
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
    let ctx = AuditContext::current();
    let scoped = dispatch::scoped();
    move || dispatch::sync_scope_option(scoped, || CURRENT.sync_scope(ctx, f))
}

/// `tokio::spawn` that carries the current context (and scoped auditor) into the task.
///
/// Must be called from inside a tokio runtime, like `tokio::spawn`.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(bind(future))
}

/// `tokio::task::spawn_blocking` that carries the current context (and scoped auditor) into
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

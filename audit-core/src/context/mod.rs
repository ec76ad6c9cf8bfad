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
//! The context lives in one tokio task-local slot, beside the scoped recorder (see
//! [`dispatch`](crate::dispatch)). [`AuditContext::scope`] sets it for a future (restored on
//! every poll, so it survives `.await` and work-stealing); [`AuditContext::sync_scope`] sets
//! it for a closure on the current thread, which works with no runtime at all and nests like
//! a stack. Because both write the same slot, the innermost scope always wins, whether it is
//! sync inside async or the other way round. Each scope sets only the context and inherits
//! the scoped recorder from around it (at every poll, for async scopes), so the two nest
//! independently.
//!
//! # Completing the context from inside
//!
//! The edge knows the request (IP, user agent, request id) before anyone knows who sent it:
//! the actor is often established later, by the app's own authentication inside the
//! request. [`complete`] fills in the actor, session id or tenant of the current unit of
//! work from there, once, and every event recorded afterwards in that unit of work carries
//! them, including the ones the HTTP layer records after the handler returned. Its docs say
//! exactly which events see a completion.
//!
//! # Crossing into other tasks and threads
//!
//! A spawned task or a `spawn_blocking` closure starts with no context. Carrying it is one
//! call: [`spawn`], [`spawn_blocking`], or, for other executors and job queues, [`bind`] and
//! [`bind_fn`]. These also carry a scoped recorder (an `Auditor::scope`,
//! [`testing::capture`](crate::testing::capture)), so events recorded in the job reach the
//! same place as the caller's.

pub(crate) mod completion;
pub(crate) mod fields;
pub(crate) mod scope;

pub use completion::{CompleteError, Completion, Snapshot, complete};
pub use fields::AuditContext;
pub use scope::{bind, bind_fn, scope_shared, spawn, spawn_blocking, sync_scope_shared};

//! # audit-actix
//!
//! Audit context for actix-web 4 services, on the framework-neutral rules of `audit-http`
//! (the same ones `audit-axum` uses): per-request context, the client IP behind trusted
//! proxies, request ids, refusals audited with the status actually sent, and a permission
//! guard that records its denials.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use audit_actix::{Audit, Authenticated, identify, require_permission, Principal};
//! use audit_actix::client_ip::TrustedProxies;
//! use audit_core::{Actor, audited};
//!
//! #[audited("NEWSLETTER_PUBLISHED", entity_type = "newsletter_issue", entity_id = |id| id)]
//! async fn publish(Authenticated(who): Authenticated) -> Result<String, actix_web::Error> {
//!     // Recorded with the actor, IP, user agent and request id of the request.
//!     Ok(format!("issue-by-{}", who.actor.id))
//! }
//!
//! # fn user_from_session(_: &actix_web::dev::ServiceRequest) -> Option<Principal> { None }
//! # async fn run() -> std::io::Result<()> {
//! // In main, once: `let _audit = audit::init(audit::sqlite("audit.db"))?;`
//! HttpServer::new(|| {
//!     App::new()
//!         .service(
//!             web::scope("/admin")
//!                 .wrap(require_permission("newsletter:publish"))
//!                 .route("/newsletters", web::post().to(publish)),
//!         )
//!         // Inside the session middleware: it sees the session.
//!         .wrap(identify(user_from_session))
//!         // .wrap(SessionMiddleware::new(..))
//!         // Last, so outermost: it sees every request first and every response last.
//!         .wrap(Audit::new().trusted_proxies(TrustedProxies::loopback()).login_redirect("/login"))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```
//!
//! # Middleware order
//!
//! actix-web runs the middleware registered **last** first. Two positions matter:
//!
//! - [`Audit`] must be outermost (the last `.wrap()`): it gives the request its context and
//!   request id before anything else runs, so every event and every log line inside carries
//!   them, and it sees every response, including a 401 or a redirect to the login page sent
//!   by a session or auth middleware, to audit the refusal.
//! - Identifying the user needs the session, which exists only inside the session middleware.
//!   So identify *there*: with the [`identify`] middleware registered before (inside) the
//!   session middleware, or with [`set_principal`] from the app's own extractor, login
//!   handler or session check. Either completes the request's audit context from inside
//!   (`audit_core::context::complete`), so every event recorded afterwards, and `Audit`'s
//!   bookkeeping after the handler returned, carry the actor and session id. An app whose
//!   identity is in a header (a bearer token) can instead give `Audit` an
//!   [`actor_resolver`](Audit::actor_resolver).
//!
//! Placed wrongly, nothing panics: [`identify`], [`set_principal`] and
//! [`require_permission`] find no audit context and say so once through `tracing` (at warn
//! level), and events are recorded without the request's context.
//!
//! # Several apps in one process
//!
//! A test suite that starts one app per test (each with its own database and its own
//! `Auditor`) gives each its recorder with [`Audit::recorder`]: each app's events go to its
//! own store and none to the process default.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod guard;
mod identify;
mod middleware;

pub use audit_http::{
    AcceptRequestId, Principal, RequestId, X_REQUEST_ID, client_ip, mark_audited, record,
};
pub use extract::{Authenticated, ClientIp};
pub use guard::{
    Denied, RequirePermission, RequirePermissionMiddleware, authorize, require_permission,
};
pub use identify::{Identify, IdentifyMiddleware, identify, set_principal};
pub use middleware::{Audit, AuditMiddleware};

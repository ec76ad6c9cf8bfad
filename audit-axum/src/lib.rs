//! # audit-axum
//!
//! Audit context for web services on axum 0.8 or any tower 0.5 / http 1 stack, built on the
//! framework-neutral rules of `audit-http` (a service on another stack uses those directly).
//!
//! [`AuditLayer`] gives every request an [`AuditContext`](audit_core::AuditContext): the
//! client IP (resolved behind your trusted proxies without letting clients spoof it, see
//! [`client_ip`]), the user agent, a request id (the incoming `x-request-id` when it is
//! valid and believed, otherwise a new UUIDv7, echoed in the response) and the authenticated
//! principal. Every event recorded while the request is served, by `#[audited]` functions or
//! by [`audit_core::record`], carries them without the handler doing anything.
//!
//! Denials are never invisible: [`require_permission`] and [`authorize`] record an
//! `authz_fail` event with the permission code and the roles held, and a 401 or 403 answered
//! by anything else (an extractor, an auth middleware, a handler) that the request did not
//! record itself is recorded by the layer, with the status sent.
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::{Router, routing::{get, post}};
//! use audit_axum::{AuditLayer, Authenticated, Principal, client_ip::TrustedProxies, require_permission};
//! use audit_core::Actor;
//!
//! async fn create_booking(Authenticated(who): Authenticated) -> String {
//!     // Anything recorded here carries the actor, IP, user agent and request id.
//!     format!("booked by {}", who.actor.id)
//! }
//!
//! let layer = AuditLayer::new()
//!     // Our nginx runs on the same host; nothing else may set X-Forwarded-For.
//!     .trusted_proxies(TrustedProxies::loopback())
//!     // Resolve the caller from a header (a real app checks a session or a signed token).
//!     .actor_resolver(|req: &http::request::Parts| {
//!         let user = req.headers.get("x-demo-user")?.to_str().ok()?;
//!         Some(Principal::new(Actor::user(user)).permissions(["booking:create"]))
//!     });
//!
//! let app: Router = Router::new()
//!     .route("/bookings", post(create_booking))
//!     .route_layer(require_permission("booking:create"))
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(layer);
//!
//! // Serve with the peer address available to the layer:
//! // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # let _ = std::any::type_name::<SocketAddr>();
//! ```
//!
//! The layer needs the TCP peer address: serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` (or insert a `SocketAddr` into the
//! request extensions in another stack). Without it no IP is recorded, and forwarding
//! headers are never believed.
//!
//! # The actor, known only inside the request
//!
//! When the app authenticates in its own extractor (a token checked against the database),
//! it completes the request's context there, once: every event recorded afterwards in the
//! request, and the layer's own 401/403 bookkeeping after the handler returned, carry the
//! actor and session. No resolver, no second verification at the edge:
//!
//! ```
//! use axum::extract::FromRequestParts;
//! use http::{StatusCode, request::Parts};
//! use audit_core::{Actor, context};
//! use audit_axum::Principal;
//!
//! /// The app's own extractor.
//! struct CurrentUser(String);
//!
//! impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
//!     type Rejection = StatusCode;
//!
//!     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
//!         let token = parts.headers.get("authorization").ok_or(StatusCode::UNAUTHORIZED)?;
//!         let user = verify(token.as_bytes()).ok_or(StatusCode::UNAUTHORIZED)?;
//!         let principal = Principal::new(Actor::user(&user)).session_id("s-1");
//!         let _ = context::complete(principal.completion());
//!         Ok(CurrentUser(user))
//!     }
//! }
//! # fn verify(_: &[u8]) -> Option<String> { Some("u-42".into()) }
//! ```
//!
//! A request the extractor rejects (no token, a bad token) answers 401, which the layer
//! records: the rejected request leaves an event.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod guard;
mod layer;

pub use audit_http::{
    AcceptRequestId, MAX_REQUEST_ID_LEN, Principal, RequestId, X_REQUEST_ID, client_ip,
    mark_audited, record,
};
pub use extract::{Authenticated, ClientIp};
pub use guard::{Denied, RequirePermission, RequirePermissionLayer, authorize, require_permission};
pub use layer::{ActorResolver, AuditFuture, AuditLayer, AuditService};

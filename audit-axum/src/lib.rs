//! # audit-axum
//!
//! Audit context for web services on axum 0.8 or any tower 0.5 / http 1 stack.
//!
//! [`AuditLayer`] gives every request an [`AuditContext`](audit_core::AuditContext): the
//! client IP (resolved behind your trusted proxies without letting clients spoof it, see
//! [`client_ip`]), the user agent, a request id (the incoming `x-request-id` when it is
//! valid, otherwise a new UUIDv7, echoed in the response) and the authenticated principal.
//! Every event recorded while the request is served, by `#[audited]` functions or by
//! [`audit_core::record`], carries them without the handler doing anything.
//!
//! Denials are never invisible: [`require_permission`] and [`authorize`] record an
//! `authz_fail` event with the permission code and the roles held, and a 401 or 403 answered
//! by anything else before a handler ran (an extractor, an auth middleware) is recorded by
//! the layer itself.
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::{Router, routing::{get, post}};
//! use audit_axum::{AuditLayer, Principal, client_ip::TrustedProxies, require_permission};
//! use audit_core::Actor;
//!
//! async fn create_booking(who: Principal) -> String {
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
//! # Other frameworks
//!
//! Nothing here is needed to get request context: [`AuditContext`](audit_core::AuditContext)
//! is framework-neutral. On actix-web, rocket, an older axum or a hand-written hyper
//! service, build the context at the edge and run the handler inside its scope; the
//! resolver of this crate is a pure function you can call from anywhere:
//!
//! ```
//! use std::net::IpAddr;
//! use audit_axum::client_ip::{ClientIpResolver, TrustedProxies};
//! use audit_axum::RequestId;
//! use audit_core::{Actor, AuditContext, AuditEvent, testing};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let resolver = ClientIpResolver::new(TrustedProxies::loopback());
//! let peer: IpAddr = "127.0.0.1".parse().unwrap();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-forwarded-for", "198.51.100.4".parse().unwrap());
//!
//! let ctx = AuditContext::new()
//!     .ip(resolver.resolve(peer, &headers))
//!     .request_id(RequestId::generate().as_str())
//!     .actor(Actor::user("alice"));
//!
//! let (_, captured) = testing::capture_async(ctx.scope(async {
//!     // your framework's handler runs here
//!     audit_core::record(AuditEvent::builder("FTMS_BOOKING_CREATED").build());
//! }))
//! .await;
//! assert_eq!(captured.single().ip, Some("198.51.100.4".parse().unwrap()));
//! # });
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client_ip;
mod guard;
mod layer;
mod principal;
mod request_id;

pub use guard::{Denied, RequirePermission, RequirePermissionLayer, authorize, require_permission};
pub use layer::{
    ActorResolver, AuditFuture, AuditLayer, AuditService, ClientIp, mark_audited, record,
};
pub use principal::Principal;
pub use request_id::{AcceptRequestId, MAX_REQUEST_ID_LEN, RequestId, X_REQUEST_ID};

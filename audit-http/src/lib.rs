//! # audit-http
//!
//! The rules every web integration of the audit workspace applies to a request, with no web
//! framework and no `http` crate: they read plain header values ([`Headers`]), so a service
//! on any stack (an older axum, actix-web, a hand-written hyper service) gets the same
//! trusted-proxy handling, request ids and refusal auditing as the ready-made integrations
//! (`audit-axum`, `audit-actix`), which are built on this crate.
//!
//! - [`client_ip`]: the client's address behind your reverse proxies, walked from the right
//!   so a client cannot choose it.
//! - [`RequestId`]: the incoming id when it is valid and sent by someone you believe
//!   ([`AcceptRequestId`]), a new UUIDv7 otherwise.
//! - [`Edge`] and [`RequestAudit`]: one request from its head to its response. The request
//!   runs with its [`AuditContext`](audit_core::AuditContext) current (client IP, user agent,
//!   request id, the principal), and a refusal nobody recorded is audited at the end with
//!   the status actually sent: a 401, a 403, or a redirect to the login page.
//! - [`Principal`], [`authorize`]: who is making the request and a permission check that
//!   records its own denial.
//!
//! # On any stack
//!
//! A service whose framework has no integration wraps each request in four calls. Here the
//! "framework" is a function over a list of headers, and the app's own auth extractor
//! rejects a bad token with a 401:
//!
//! ```
//! use std::net::IpAddr;
//! use audit_core::context::{self, Completion};
//! use audit_core::{Actor, AuditEvent, testing};
//! use audit_http::{Edge, client_ip::TrustedProxies};
//!
//! /// The app's own authentication, inside the request: it knows the actor only now.
//! fn authenticate(headers: &[(&str, &str)]) -> Result<Actor, u16> {
//!     match headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
//!         Some((_, "Token good")) => Ok(Actor::user("u-42")),
//!         _ => Err(401),
//!     }
//! }
//!
//! async fn handler(headers: &[(&str, &str)]) -> u16 {
//!     let actor = match authenticate(headers) {
//!         Ok(actor) => actor,
//!         Err(status) => return status,
//!     };
//!     // Every event from here on, and the edge's own bookkeeping, carries the actor.
//!     let _ = context::complete(Completion::new().actor(actor));
//!     audit_core::record(AuditEvent::builder("ARTICLE_CREATED").build());
//!     201
//! }
//!
//! async fn serve(edge: &Edge, peer: IpAddr, headers: &[(&str, &str)]) -> u16 {
//!     let request = edge.begin(Some(peer), "POST", "/api/articles", headers);
//!     let status = request.scope(handler(headers)).await;
//!     request.finish(status, None);
//!     status
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let edge = Edge::new().trusted_proxies(TrustedProxies::loopback());
//! let proxy: IpAddr = "127.0.0.1".parse().unwrap();
//! let (_, captured) = testing::capture_async(async {
//!     serve(&edge, proxy, &[("X-Forwarded-For", "203.0.113.9"), ("Authorization", "Token good")]).await;
//!     serve(&edge, proxy, &[("X-Forwarded-For", "203.0.113.9"), ("Authorization", "Token bad")]).await;
//! })
//! .await;
//! let [created, refused] = captured.events() else { panic!("{:?}", captured.actions()) };
//! assert_eq!(created.action, "ARTICLE_CREATED");
//! assert_eq!(created.actor, Some(Actor::user("u-42")));
//! assert_eq!(refused.action, "authn_request_unauthenticated"); // the bad token left an event
//! assert_eq!(refused.ip, Some("203.0.113.9".parse().unwrap()));
//! assert_eq!(refused.metadata["status"], 401);
//! # });
//! ```
//!
//! The integrations do exactly this around the framework's own service: `begin` with the
//! peer address and headers, the principal from the app's resolver
//! ([`RequestAudit::set_principal`]), the request id written into the request and echoed in
//! the response, the handler run inside [`RequestAudit::scope`], and
//! [`RequestAudit::finish`] with the status of the response.
//!
//! # Refusals are never invisible
//!
//! A 401 or 403 answered by anything (an extractor, an auth middleware, the handler) for
//! which the request recorded nothing that explains it (a denied event, a failed
//! authentication or authorization event, or an event recorded with [`record`]) is recorded
//! by [`RequestAudit::finish`], with the status sent. Apps that answer unauthenticated
//! requests with a redirect to their login page say so with [`Edge::login_redirect`]; such
//! a redirect, answered to a request without an actor, is recorded the same way (a logout
//! that redirects to the login page has an actor and is not).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client_ip;
mod denial;
mod edge;
mod headers;
mod principal;
mod request_id;

pub use denial::{Denial, authorize, authorize_request};
pub use edge::{Edge, RequestAudit, mark_audited, record};
pub use headers::Headers;
pub use principal::Principal;
pub use request_id::{AcceptRequestId, MAX_REQUEST_ID_LEN, RequestId, X_REQUEST_ID};

//! # audit-dashboard
//!
//! An admin viewer for the audit log that any axum service mounts in one line: an overview
//! with events over time, a filterable event table, event details with their place in the
//! chain, actor and entity timelines, chain verification with progress, CSV and JSON Lines
//! exports of any filter, and a live view. It works over any
//! [`AuditStore`](audit_core::AuditStore): SQLite, PostgreSQL, the in-memory store, or an
//! `Arc` of any of them.
//!
//! ```
//! use audit_axum::{AuditLayer, Principal};
//! use audit_core::{Actor, sinks::MemorySink};
//! use audit_dashboard::{Dashboard, PrincipalAccess};
//! use axum::body::Body;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = MemorySink::new();
//! // Your authentication resolves the principal; the dashboard reads its `audit:*`
//! // permissions. (A real app checks a session cookie here, not a header.)
//! let layer = AuditLayer::new().actor_resolver(|req: &http::request::Parts| {
//!     let user = req.headers.get("x-demo-user")?.to_str().ok()?;
//!     Some(Principal::new(Actor::user(user)).permissions(["audit:read", "audit:export"]))
//! });
//! let app = axum::Router::new()
//!     // `nest("/admin/audit", audit_dashboard::router(..))` works too, but answers 404 at
//!     // `/admin/audit/`; `mount` also redirects that to the overview.
//!     .merge(Dashboard::new(store.clone(), PrincipalAccess::new()).mount("/admin/audit"))
//!     .layer(layer);
//!
//! let page = app
//!     .oneshot(
//!         http::Request::get("/admin/audit/events?outcome=denied")
//!             .header("x-demo-user", "rita")
//!             .body(Body::empty())
//!             .unwrap(),
//!     )
//!     .await
//!     .unwrap();
//! assert_eq!(page.status(), 200);
//! assert!(page.headers()["content-security-policy"]
//!     .to_str()
//!     .unwrap()
//!     .contains("default-src 'self'"));
//! # }
//! ```
//!
//! ## Pages
//!
//! | route | page | permission |
//! | --- | --- | --- |
//! | `/` | overview: events over time by outcome (24 h / 7 d / 30 d), counts by outcome and category, top actors and actions, failed logins and denials, recent alerts, the chain head and the last verification | `audit:read` |
//! | `/events` | every [`AuditQuery`](audit_core::AuditQuery) filter in a form, a newest-first table, keyset paging both ways; the whole view is in the URL, so it can be bookmarked and shared | `audit:read` |
//! | `/events/{seq}` | every field, metadata as formatted JSON, `seq` / `prev_hash` / `hash`, links to the same actor, entity, request and IP | `audit:read` |
//! | `/actor?id=` and `/entity?type=&id=` | timelines, grouped by day | `audit:read` |
//! | `/live` | the newest events, kept current (polling; a `<noscript>` refresh without JavaScript) | `audit:read` |
//! | `/verify` | the last verification and a run's progress; a form that starts one (`POST /verify/run`) | `audit:read`; starting: `audit:verify` |
//! | `/export?format=csv` or `jsonl` | the current filter, streamed in constant memory | `audit:export` |
//! | `/export?format=xlsx` or `pdf` | the current filter as audit-report's Excel workbook or PDF report with its verification statement, when enabled with [`Dashboard::reports`] | `audit:export` |
//!
//! Every page works without JavaScript. One small script, served as a static file like the
//! one stylesheet (both embedded in the binary), adds keyboard paging (← →), the live
//! tail and the verification progress bar.
//!
//! ## Access
//!
//! The host decides who may look through [`Access`]: turn a request into a [`Viewer`] with
//! [`Permission`]s, or a [`Denial`]. [`PrincipalAccess`] is the ready implementation over
//! audit-axum's [`Principal`](audit_axum::Principal) (put into the request by
//! [`AuditLayer`](audit_axum::AuditLayer)'s resolver), with the permissions `audit:read`,
//! `audit:export` and `audit:verify`. [`Access::login_url`] links the 401 page to the
//! host's sign-in; [`Access::logout_url`] gives every page a "Sign out" button that
//! `POST`s to the host's sign-out. Mount the dashboard *inside* the host's
//! `AuditLayer`, so its records carry the client IP and request id.
//!
//! ## A tenant's dashboard
//!
//! Over `store.for_tenant("acme")` ([`audit_core::tenant`]) the dashboard shows that
//! tenant's events only, on every page and export, whatever the URL asks for (tested with
//! another tenant's filters, cursors and seqs on SQLite, PostgreSQL and MariaDB): another
//! tenant's seq is a 404, an event's previous and next links go to the tenant's neighbouring
//! events, and the overview's head is the tenant's newest event. The chain is shared by
//! every tenant, so a verification started there ends with the store's refusal ("cannot
//! verify the shared chain") rather than a verdict; the tenant checks its events with
//! `audit_core::tlog::verify_tenant` or a tenant bundle instead. The Excel and PDF reports
//! carry a chain verification of their range, so leave [`Dashboard::reports`] off for a
//! tenant's dashboard: there the verification is refused and the download fails.
//!
//! ## Who watches the watchers
//!
//! Every refusal is recorded like any RBAC denial (`authz_fail` with the permission code and
//! the roles held, or `authn_request_unauthenticated`), every page view as
//! [`AUDIT_LOG_VIEWED`](codes::AUDIT_LOG_VIEWED) and every export as
//! [`AUDIT_LOG_EXPORTED`](codes::AUDIT_LOG_EXPORTED), with the filter used, and every
//! verification as [`AUDIT_CHAIN_VERIFIED`](codes::AUDIT_CHAIN_VERIFIED); all through
//! [`audit_core::record`] under the request's context, with the viewer as the actor. The
//! live view's and the verify page's polls are part of the one view that opened them.
//!
//! ## Security
//!
//! - Every value of an event is attacker-controlled (a user agent, a claimed user name, a
//!   description built from input). Templates are compiled (askama) and escape every value;
//!   user text is wrapped in `<bdi>` so right-to-left overrides stay inside their element;
//!   cells have fixed widths and wrap anywhere, so no text breaks out of its cell. Links are
//!   built from the mount path with URL-encoded parameters: no value can become a link's
//!   scheme (`javascript:`) or host.
//! - No inline script or style anywhere, so every response carries a strict policy:
//!   [`CONTENT_SECURITY_POLICY_VALUE`] (`default-src 'self'; frame-ancestors 'none'; …`),
//!   plus `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//!   `Referrer-Policy: same-origin` and `Cache-Control: no-store` on pages.
//! - No state changes on GET. The one POST (start a verification) carries a CSRF token
//!   (HMAC of the viewer and session under a random per-instance key) and is refused when
//!   the browser says it comes from another site (`Sec-Fetch-Site`, `Origin`).
//! - Values redacted when they were recorded stay redacted: the dashboard shows what the
//!   store holds.
//!
//! ## Speed at size
//!
//! Pages read keyset pages through the store's indexes; the overview's counts never scan
//! the log per view: the dashboard keeps per-hour and per-day counts, built once in the
//! background and then updated from `seq > last_seen` every second (see the README's bench
//! for each page's server time at 1M events). A text search (`description contains`) is a
//! scan of the rows the other filters leave: narrow it with a time range on a large log.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod access;
mod app;
mod assets;
mod chart;
mod csrf;
mod errors;
mod filter;
mod layout;
mod links;
mod page;
mod pages;
mod record;
mod security;
mod stats;
mod verifier;
mod view;

pub use access::{Access, Denial, Permission, PrincipalAccess, Viewer};
pub use app::{DEFAULT_VERIFY_CHUNK, Dashboard, router};
pub use csrf::CsrfError;
pub use record::codes;
pub use security::{CONTENT_SECURITY_POLICY_VALUE, security_headers};

//! # audit
//!
//! A trustworthy record of **who did what, when, from where, and with what result**: logins
//! that worked and failed, permissions that were denied, and every business action
//! (`FTMS_BOOKING_CREATED`), in an append-only, hash-chained store that admins can query,
//! verify, export and archive. This is the crate applications depend on; it re-exports the
//! pieces of the workspace and starts them in one call.
//!
//! ```toml
//! [dependencies]
//! audit = "0.1"   # SQLite by default; features: postgres, mysql, axum, actix, http, dashboard, alert, test-util
//! ```
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # std::env::set_current_dir(dir.path()).unwrap();
//! #[audit::audited("FTMS_BOOKING_CREATED", entity_type = "booking", entity_id = |id| id)]
//! fn create_booking(seats: u32) -> Result<String, String> {
//!     if seats == 0 { Err("no seats requested".into()) } else { Ok("b-1".into()) }
//! }
//!
//! let _audit = audit::init(audit::sqlite("audit.db"))?; // drains into the file on drop
//! create_booking(2)?; // recorded: success, entity booking/b-1
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Core concepts
//!
//! - An [`AuditEvent`] is one record: an action code, a [`Category`], an [`Outcome`] (with a
//!   reason when it failed or was denied), the [`Actor`], the entity acted on, the client's
//!   IP, user agent, request and session ids, the tenant, a severity and JSON metadata
//!   (sensitive keys redacted by [`redact`]).
//! - An [`AuditContext`] says who is acting, from where, in which request. Set it once at
//!   the edge of a unit of work ([`AuditContext::scope`]; the `axum` feature's layer does it
//!   per request) and every event recorded inside picks it up.
//! - [`record`] and `#[audited]` send events to the current [`Recorder`]: the
//!   [`Auditor`] installed by [`init`], or a scoped one. Recording never fails, never panics
//!   and never waits on the database: the `Auditor` queues the event for its own worker
//!   thread, which batches, retries, spools to disk while the store is down and replays in
//!   order.
//! - A store ([`sqlite()`], `stores::postgres`, `stores::mysql`) is both the [`AuditSink`] the worker
//!   writes and the [`AuditStore`] admins read: queries ([`AuditQuery`]), counts, exports and
//!   chain verification ([`chain`]), which names the first tampered `seq` and how.
//!
//! # In libraries
//!
//! A library records and never decides where events go: depend on `audit` with
//! `default-features = false` (or on `audit-core`), call [`record`] or annotate functions
//! with [`audited`], and leave [`init`] to the application. Events recorded before the
//! application calls `init` are held for it (up to [`dispatch::EARLY_CAPACITY`]).
//!
//! ```
//! use audit::{AuditEvent, Category};
//!
//! pub fn rotate_keys() {
//!     audit::record(
//!         AuditEvent::builder("KEYS_ROTATED")
//!             .category(Category::System)
//!             .description("signing keys rotated")
//!             .build(),
//!     );
//! }
//! # let ((), captured) = audit::testing::capture(rotate_keys);
//! # assert_eq!(captured.single().action, "KEYS_ROTATED");
//! ```
//!
//! # In applications
//!
//! Call [`init`] once in `main` and keep the returned [`Audit`] alive: dropping it drains the
//! queue into the store, so a normal return from `main` loses nothing. [`Setup`] adjusts the
//! store and the pipeline; [`Setup::build`] gives an auditor without installing it, for
//! processes that run several apps (route each through [`Auditor::scope`]).
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("audit.db");
//! use std::time::Duration;
//! use audit::{Actor, AuditContext, AuditEvent, AuditQuery, AuditStore};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let audit = audit::init(
//!     audit::sqlite(&path).auditor(|builder| builder.max_linger(Duration::from_millis(2))),
//! )?;
//!
//! AuditContext::new()
//!     .actor(Actor::user("alice"))
//!     .request_id("req-7")
//!     .scope(async { audit::record(AuditEvent::builder("USER_LOGIN").build()) })
//!     .await;
//!
//! audit.flush().await?;
//! let page = audit.store().query(&AuditQuery::new().actor("alice")).await?;
//! assert_eq!(page.events[0].event.request_id.as_deref(), Some("req-7"));
//! assert!(audit.store().verify(Default::default(), None).await?.is_valid());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Several apps in one process
//!
//! A process that runs several apps (a test suite that starts one app per test, a host
//! with one auditor per tenant) does not install a global default: it builds one auditor per
//! app with [`Setup::build`] and runs each app's work inside [`Auditor::scope`]. The scope
//! follows the work into spawned tasks ([`context::spawn`]) and blocking threads
//! ([`context::spawn_blocking`]), so events never reach another app's store; each auditor's
//! threads stop when it is shut down (or its last clone dropped).
//!
//! ```
//! use audit::{AuditEvent, AuditStore, AuditQuery};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! let (store_a, auditor_a) = audit::sqlite(dir.path().join("a.db")).build()?;
//! let (store_b, auditor_b) = audit::sqlite(dir.path().join("b.db")).build()?;
//!
//! auditor_a.scope(async { audit::record(AuditEvent::builder("IN_APP_A").build()) }).await;
//! auditor_b.scope(async { audit::record(AuditEvent::builder("IN_APP_B").build()) }).await;
//!
//! auditor_a.shutdown().await?;
//! auditor_b.shutdown().await?;
//! assert_eq!(store_a.query(&AuditQuery::new()).await?.events[0].event.action, "IN_APP_A");
//! assert_eq!(store_b.count(&AuditQuery::new()).await?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # In tests
//!
//! [`testing::capture`] collects what a closure records, without any global state, so tests
//! run in parallel; the `test-util` feature adds the backend conformance suite
//! (`audit::conformance`) for custom sinks.
//!
//! # Crates behind this one
//!
//! `audit-core` (the vocabulary: events, context, routing, redaction, the chain, the query
//! model, the sink and store traits), `audit-macros` (`#[audited]`), `audit-pipeline` (the
//! `Auditor`), `audit-sqlite` and `audit-sqlx` (stores), `audit-http` (the framework-neutral
//! HTTP rules), `audit-axum` and `audit-actix` (web integrations), `audit-dashboard` (the
//! admin viewer),
//! `audit-alert` (alert rules) and `audit-conformance` (the backend test suite).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backends;
mod init;

pub use init::{Audit, InitError, Setup, init, shutdown_signal};

#[cfg(feature = "sqlite")]
pub use audit_sqlite::{SqliteOptions, SqliteStore};
#[cfg(feature = "sqlite")]
pub use backends::{sqlite, sqlite_with};

/// The store crates, each behind its feature.
pub mod stores {
    /// The embedded SQLite store (feature `sqlite`, on by default): the `audit-sqlite` crate.
    #[cfg(feature = "sqlite")]
    pub use audit_sqlite as sqlite;

    /// The PostgreSQL store (feature `postgres`): the `audit-sqlx` crate.
    #[cfg(feature = "postgres")]
    pub use audit_sqlx as postgres;

    /// The MySQL/MariaDB store (feature `mysql`): the `audit-sqlx` crate.
    #[cfg(feature = "mysql")]
    pub use audit_sqlx as mysql;
}

pub use audit_core::{
    Actor, ActorKind, AuditContext, AuditEvent, AuditEventBuilder, AuditOutcome, AuditQuery,
    AuditSink, AuditStore, BatchAck, Category, ChainHash, ChainHasher, ChainPosition,
    EventObserver, Outcome, Receipt, Recorded, Recorder, Severity, SinkError, StoreError,
    StoredEvent, ValidationError, record, record_async,
};
pub use audit_core::{
    auth, chain, context, diff, dispatch, event, export, fields, outcome, prepare, query, reads,
    recorder, redact, sink, sinks, store, tenant, testing, validate,
};

/// `#[audited("CODE", ...)]`: records an audit event for every call of a function.
pub use audit_core::audited;

/// The `Auditor` pipeline: queue, batching, retry, spool, replay (the `audit-pipeline` crate).
pub mod pipeline {
    pub use audit_pipeline::*;
}
pub use audit_pipeline::{Auditor, AuditorBuilder, OverflowPolicy, RetryPolicy};

/// The framework-neutral HTTP rules (feature `http`, on with `axum` and `actix`): the
/// `audit-http` crate.
#[cfg(feature = "http")]
pub use audit_http as http;

/// axum/tower integration (feature `axum`): the `audit-axum` crate.
#[cfg(feature = "axum")]
pub use audit_axum as axum;

/// actix-web integration (feature `actix`): the `audit-actix` crate.
#[cfg(feature = "actix")]
pub use audit_actix as actix;
/// The admin dashboard (feature `dashboard`): the `audit-dashboard` crate.
#[cfg(feature = "dashboard")]
pub use audit_dashboard as dashboard;

/// Alert rules (feature `alert`): the `audit-alert` crate.
#[cfg(feature = "alert")]
pub use audit_alert as alert;

/// The backend conformance suite (feature `test-util`): the `audit-conformance` crate.
#[cfg(feature = "test-util")]
pub use audit_conformance as conformance;

#[doc(hidden)]
pub use audit_core::__private;

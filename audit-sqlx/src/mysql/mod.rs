//! The MySQL and MariaDB backend: [`MySqlStore`] and [`MySqlOptions`].
//!
//! ```no_run
//! use audit_core::{Actor, AuditEvent, AuditStore, query::AuditQuery, store::VerifyScope};
//! use audit_sqlx::{MySqlOptions, MySqlStore};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Tables `audit_*` in the URL's database, created on first connect.
//! let store = MySqlStore::connect("mysql://audit_owner:secret@127.0.0.1:3306/app").await?;
//! // Or elsewhere, with a role that may not migrate:
//! let _app = MySqlStore::connect_with(
//!     MySqlOptions::new("mysql://audit_app:secret@127.0.0.1:3306")
//!         .database("app")?
//!         .migrate(false),
//! )
//! .await?;
//!
//! let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
//!     .actor(Actor::user("alice"))
//!     .ip("10.1.2.3".parse()?)
//!     .build();
//! let positions = store.append(&[event]).await?;
//! let page = store
//!     .query(&AuditQuery::new().actor("alice").ip_in("10.0.0.0/8".parse()?))
//!     .await?;
//! assert_eq!(page.events[0].seq, positions[0].seq);
//! assert!(store.verify(VerifyScope::All, None).await?.is_valid());
//! # Ok(()) }
//! ```
//!
//! ## Writing
//!
//! [`MySqlStore::append`] (and the [`AuditSink`](audit_core::AuditSink) the
//! `Auditor` of `audit-pipeline` calls) runs one transaction per batch on the store's own
//! pool, in `READ COMMITTED`: `SELECT … FOR UPDATE` on the head row, link, multi-row
//! `INSERT`s (at most 3 120 rows and about 4 MiB each, the placeholder and packet limits),
//! move the head, commit. Not `LOAD DATA LOCAL INFILE`: the sqlx driver does not implement
//! the client side of it. The first attempt inserts straight after the head; a unique-key
//! violation (a replayed batch, or a row someone inserted at the next seq) is retried in a
//! new transaction that looks the batch's ids up (stored ones are acknowledged with their
//! positions) and continues the chain after the highest stored seq. So a row forged behind
//! the library's back neither halts the writers nor joins the chain: verification reports
//! it as inserted. A writer waiting for the head lock gives up after
//! [`MySqlOptions::lock_wait_timeout`] with a transient error the pipeline retries; on
//! MariaDB, a session idle inside a transaction is ended after
//! [`MySqlOptions::idle_in_transaction_timeout`].
//!
//! Values are checked before any database work: the event's own validation (nesting up to
//! `audit_core::validate::MAX_METADATA_DEPTH`, no NUL), and times outside `DATETIME`'s years
//! 1000–9999 are [`Error::Unstorable`](crate::Error::Unstorable). Metadata may hold 4-byte
//! characters, CR/LF, any float; the column keeps the JSON text the chain hashed, so numbers
//! come back as written. On MariaDB that column is a `LONGTEXT` without a `JSON_VALID` check:
//! MariaDB's check refuses 32 levels of nesting (measured), which the event model allows.
//!
//! ## Outbox
//!
//! [`MySqlStore::record_in`] writes the event into `audit_outbox` through the caller's own
//! connection or transaction; it exists only if the caller commits. A relay
//! ([`MySqlStore::relay_outbox`], or [`MySqlStore::spawn_relay`], which polls: MySQL has no
//! notifications) chains committed rows in outbox-id order and deletes exactly those rows,
//! in one transaction under the head lock; a transaction that took a lower id but commits
//! later is chained when it commits. A row that is not an event (inserted by hand) moves to
//! `audit_outbox_rejected` with the reason instead of stopping the relay.
//!
//! ```no_run
//! # async fn demo(store: audit_sqlx::MySqlStore) -> Result<(), Box<dyn std::error::Error>> {
//! use audit_sqlx::sqlx_mysql::MySqlConnection;
//! use sqlx_core::connection::Connection;
//!
//! let mut conn = MySqlConnection::connect("mysql://app:secret@127.0.0.1/app").await?;
//! let mut tx = conn.begin().await?;
//! // ... the caller's own INSERT/UPDATE on `tx` ...
//! store
//!     .record_in(&mut tx, &audit_core::AuditEvent::builder("FTMS_BOOKING_CREATED").build())
//!     .await?;
//! tx.commit().await?; // the event exists only now
//! store.relay_outbox(1000).await?; // or keep a spawn_relay running
//! # Ok(()) }
//! ```
//!
//! A service whose connection is another driver's (another sqlx major, `mysql_async`,
//! `diesel`) writes the same row itself: [`MySqlStore::outbox_insert`] returns the statement
//! (`INSERT INTO <outbox> (event) VALUES (?)`) and its one text parameter, the event in
//! audit-core's serde JSON form. The table is `audit_outbox (id BIGINT UNSIGNED
//! AUTO_INCREMENT PRIMARY KEY, event LONGTEXT NOT NULL, created_at DATETIME(6))`; the test
//! `outbox::rows_written_by_another_driver_are_relayed` writes a row with the `mariadb`
//! client.
//!
//! ## Retention
//!
//! [`MySqlStore::purge_before`] is the one path that deletes: a chain prefix older than the
//! cutoff, with its last `(seq, hash)` kept in `audit_anchors` so what remains verifies. It
//! runs on a connection of its own, opened and closed for the purpose, because it marks its
//! session for the delete trigger; run it as a user with `DELETE` on the events (the owner).
//!
//! ## Connections
//!
//! Every database access of this module goes through one type (`Db`, in `db.rs`), which owns
//! the pool: how connections are made, and on which runtime they live, is decided there.

mod db;
mod migrate;
mod names;
mod options;
mod outbox;
mod read;
mod retention;
mod row;
mod store;
mod tree;
mod write;

pub use migrate::SCHEMA_VERSION;
pub use options::MySqlOptions;
pub use store::MySqlStore;

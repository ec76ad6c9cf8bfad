//! # audit-sqlx: the PostgreSQL and MySQL/MariaDB backends
//!
//! For services that run many instances on many machines against one database server.
//! [`PgStore`] (feature `postgres`, on by default) and [`MySqlStore`] (feature `mysql`, for
//! MySQL and MariaDB) store [`audit_core`] events with the same guarantees and produce
//! byte-identical chains from the same events (`tests/tests/cross_backend.rs` writes one set
//! of events to SQLite, PostgreSQL and MariaDB and compares). Each is an
//! [`AuditSink`](audit_core::AuditSink) (plug it into an `Auditor`, crate `audit-pipeline`) and
//! an [`AuditStore`](audit_core::AuditStore) (queries, counts, verification, head).
//!
//! ```toml
//! [dependencies]
//! audit-sqlx = { version = "0.1", default-features = false, features = ["mysql"] }
//! ```
//!
//! What both backends share, with one implementation each in this crate's top-level modules:
//! - **One chain across all writers.** Every write transaction locks the single chain head
//!   row (`SELECT … FOR UPDATE`), links its batch after the head, inserts it, moves the head
//!   and commits; processes on several machines queue on that row and the chain stays
//!   gap-free. A rolled-back transaction burns no seq.
//! - **Idempotent by event id.** A batch retried after a lost acknowledgement (or a spool
//!   replayed twice) is acknowledged with the stored positions, not chained again.
//! - **Refused before writing.** Invalid events, and values a column cannot hold, are a typed
//!   [`Error`] before any database work (the pipeline then isolates the one bad event).
//! - **Verification** streams the chain in pages of 2 000 rows, names the first bad seq, and
//!   reports rows beyond the chain head row as inserted (an application role that may
//!   `INSERT` can add rows, but they were not written through the head). Each page is
//!   hashed on every core (a thread of its own links them in order) while the next page is
//!   fetched; the report is the one-thread report. `verify_parallelism` in the options sets
//!   the thread count, `verify_chain_with` overrides it for one call. Rows are decoded as
//!   they are fetched, on the store's runtime thread.
//! - **Append-only** by triggers plus GRANTs, **retention** through one privileged
//!   `purge_before`, an **outbox** inside the caller's transaction with a relay, export.
//!
//! ## PostgreSQL
//!
//! ```no_run
//! use audit_core::{Actor, AuditEvent, AuditStore, query::AuditQuery, store::VerifyScope};
//! use audit_sqlx::{PgStore, PgOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PgStore::connect_with(
//!     PgOptions::new("postgres://audit_app@127.0.0.1/app").schema("audit")?,
//! )
//! .await?;
//!
//! // Usually the Auditor pipeline calls this (AuditSink::write); direct use works too.
//! let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
//!     .actor(Actor::user("alice"))
//!     .entity("booking", "b-42")
//!     .ip("10.1.2.3".parse()?)
//!     .build();
//! let positions = store.append(&[event]).await?;
//! println!("stored at seq {}", positions[0].seq);
//!
//! let page = store
//!     .query(&AuditQuery::new().actor("alice").ip_in("10.0.0.0/8".parse()?))
//!     .await?;
//! assert_eq!(page.events.len(), 1);
//! assert!(store.verify(VerifyScope::All, None).await?.is_valid());
//! # Ok(()) }
//! ```
//!
//! ### The tables
//!
//! Everything lives in one schema (default `audit`, see [`PgOptions::schema`]):
//! `audit_events` (native types: `timestamptz`, `inet` so CIDR filters run as `ip <<= $net`,
//! `jsonb` metadata, `bytea` hashes; `(key, seq)` indexes for an actor's, an entity's, a
//! request's and an IP network's newest events, and one for time ranges; schema 5 added the
//! last three lookups, which scanned the table before), `audit_chain_head` (one row), `audit_anchors` (where retention cut),
//! `audit_tree` and `audit_checkpoints` (the Merkle tree and its signed checkpoints, see
//! below), `audit_outbox`, and `audit_schema_migrations`.
//!
//! ## The Merkle tree and signed checkpoints (both backends)
//!
//! Every append also extends an RFC 6962 tree over the log ([`audit_core::tlog`]): one
//! tree row of stored hashes per event, inserted in the same transaction under the same
//! head lock, so writers on many machines extend one tree in the chain's order; the tree's
//! right edge is read and written with the head row the lock already holds (PostgreSQL: in
//! `audit_chain_head`; MySQL: `audit_tree_head`, locked with it). With
//! [`PgOptions::checkpoints`] / [`MySqlOptions::checkpoints`], the append that crosses the
//! policy's mark signs a C2SP checkpoint in its own transaction; a timer task on the store's
//! runtime signs every T seconds and [`AuditSink::shutdown`](audit_core::AuditSink::shutdown)
//! at the end. Both stores answer inclusion and consistency proofs
//! ([`audit_core::tlog::TransparencyLog`]); the same events give the same roots as SQLite's
//! and the memory store's. Retention keeps the tree rows and checkpoints, so old checkpoints
//! stay provable. The migration that adds the tree (PostgreSQL schema 4, MySQL schema 2)
//! builds the tree of the events already stored; a log that had purged a prefix before it
//! keeps working without a tree (the purged events are gone).
//!
//! The tree and checkpoint tables are append-only like the events (see each backend's
//! append-only section), and checkpoints beyond the chain head are refused; so are tree rows
//! beyond it on PostgreSQL, while MySQL's writer steps over such a row (verification reports
//! it): in neither can a row the application role inserts stop the writers. Tampering by
//! the tables' owner, who can go around all of it, is what signed checkpoints kept elsewhere
//! detect: the tests `tlog::*` of both servers run the tamper matrix (modify, delete, insert,
//! reorder, truncate, a rewrite without the key, a rollback, a fork, a changed tree row)
//! through [`verify_log`](audit_core::tlog::verify_log) against a held checkpoint.
//!
//! Migrations are SQL files embedded with `include_str!` and applied by a small runner in one
//! transaction under `pg_advisory_xact_lock`, so many instances starting at once migrate
//! exactly once. Not `sqlx::migrate!`: that macro needs the `sqlx` facade with `macros`,
//! whose optional `sqlx-sqlite` dependency puts a second `libsqlite3-sys` into the workspace
//! lock file beside rusqlite's (Cargo refuses two `links = "sqlite3"` crates even when one is
//! never built), and sqlx's migrator keeps a single per-database `_sqlx_migrations` table,
//! while each store here owns a schema. For the same reason this crate depends on
//! `sqlx-core` + `sqlx-postgres` directly. No query needs a database at build time.
//!
//! ### One chain across all writers
//!
//! Every write transaction (from [`PgStore::append`], the sink, or the outbox relay) first
//! locks the single `audit_chain_head` row with `SELECT … FOR UPDATE`, links its batch after
//! the head's `(seq, hash)`, inserts it, moves the head and commits. The lock is held for one
//! batch, so writers on different connections, processes or machines queue on it and the chain
//! stays gap-free and in one order; a rolled-back transaction leaves the head where it was, so
//! no seq is ever burnt. The event's canonical bytes are encoded before the lock is taken;
//! only hashing and the insert happen while others wait, and batching
//! (the `Auditor` (crate `audit-pipeline`) hands the sink whole batches) amortises the lock. A
//! writer that hangs while holding it (a frozen process, a lost network) is cut off by the
//! server after [`PgOptions::idle_in_transaction_timeout`], and its batch rolls back.
//!
//! Writes are idempotent by event id (a unique index): when a commit succeeded but its
//! acknowledgement was lost and the pipeline retries the batch, or a spool is replayed twice,
//! the events already stored are acknowledged with their stored positions instead of being
//! chained a second time. (So two different events must not share an id; the builder's
//! UUIDv7 ids never do.) [`PgStore::append`] inserts first and looks the batch's ids up only
//! when the insert hits the unique index, in a second transaction: replays are rare, and the
//! lookup up front cost more than anything else beside the raw `COPY` (the `postgres`
//! bench). The outbox relay, which must not retry its transaction, looks them up first.
//!
//! Batches go in by binary `COPY` (measured faster than `UNNEST`, see the `postgres` bench;
//! [`InsertMode::Unnest`] remains available).
//!
//! Metadata is stored as `jsonb`, which prints numbers as `numeric` (no exponent, no negative
//! zero). The store therefore rewrites numbers into the form `jsonb` returns *before*
//! hashing, so a chain always verifies from what PostgreSQL gives back. (`jsonb` refuses
//! `\u0000`; the event's validation refuses it in every store.)
//!
//! ### Append-only enforcement
//!
//! Triggers refuse `UPDATE`, `DELETE` and `TRUNCATE` on `audit_events` (and on
//! `audit_anchors`, `audit_tree` and `audit_checkpoints`) for every role, the owner included;
//! the only exception is a `DELETE` of events inside the retention path, which marks its own
//! transaction. Rows beyond the chain head are refused in `audit_events`, `audit_tree` and
//! `audit_checkpoints` (schema 3 and 6): the writer moves the head first, so only a
//! transaction that holds the head can add to them. Give the application a role that can
//! only insert and read, so that even the marker does not help it:
//!
//! ```sql
//! -- as the owner, once, after the first PgStore::connect with migrations on:
//! CREATE ROLE audit_app LOGIN PASSWORD '...';
//! GRANT USAGE ON SCHEMA audit TO audit_app;
//! REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM audit_app;
//! GRANT SELECT, INSERT ON audit.audit_events TO audit_app;
//! GRANT SELECT, UPDATE ON audit.audit_chain_head TO audit_app;   -- moving the head
//! GRANT SELECT ON audit.audit_anchors, audit.audit_schema_migrations TO audit_app;
//! GRANT SELECT, INSERT ON audit.audit_tree, audit.audit_checkpoints TO audit_app; -- the tree
//! GRANT SELECT, INSERT, DELETE ON audit.audit_outbox TO audit_app; -- outbox mode only
//! GRANT INSERT ON audit.audit_outbox_rejected TO audit_app;        -- outbox mode only
//! -- no UPDATE, DELETE, TRUNCATE on audit_events (nor the tree) for the app, and no ownership:
//! REVOKE UPDATE, DELETE, TRUNCATE ON audit.audit_events FROM audit_app;
//! ```
//!
//! The tests `tree_guards::the_app_role_cannot_truncate_or_rewrite_the_tree_tables` and
//! `..._cannot_add_tree_rows_or_checkpoints_beyond_the_head` prove such a role is refused.
//!
//! The app then connects with `PgOptions::migrate(false)` (it has no `CREATE` right; the
//! store only checks the schema version). Changing the head row alone forges nothing: the next
//! write links to a hash no record has, and verification reports it. The owner can still
//! disable triggers; the hash chain, an HMAC key kept outside the database
//! ([`PgOptions::hasher`]) and checkpoints kept elsewhere ([`PgStore::chain_head`]) are
//! what detect that.
//!
//! ### Retention
//!
//! Retention is the one path that deletes: run it with a store connected as the owner. It
//! removes a *prefix* of the chain (it stops at the first event at or after the cutoff),
//! records the last removed `(seq, hash)` in `audit_anchors`, and verification of what
//! remains starts there. [`PgStore::archive`] first writes the prefix to a self-verifying
//! file in audit-core's backend-neutral [`archive`](audit_core::archive) format (the same as
//! `audit-sqlite`'s, checked with [`verify_archive`](audit_core::archive::verify_archive)),
//! refuses a range that does not verify, and records an `AUDIT_ARCHIVED` event with the
//! file's SHA-256 in the same transaction as the delete; [`PgStore::purge_before`] only
//! deletes.
//!
//! No monthly partitions: a partitioned table needs the partition key in its primary key, so
//! `seq` alone could no longer be unique; with many writers `occurred_at` is not monotonic in
//! `seq`, so a dropped month would not be a chain prefix and would punch holes that
//! verification reports as tampering; and `DROP`/`DETACH PARTITION` would bypass the row
//! triggers, making the privileged path harder to confine. Deleting a prefix by the `seq`
//! primary key costs one index range scan; at audit volumes that is cheap enough, and a
//! deployment that needs instant drops can range-partition by `seq` later without changing
//! the chain.
//!
//! ### Outbox mode
//!
//! To make an audit event atomic with the caller's own data, write it in the caller's
//! transaction with [`PgStore::record_in`]: it lands in `audit_outbox` and exists only if the
//! caller commits. A relay ([`PgStore::relay_outbox`], or [`PgStore::spawn_relay`] which
//! wakes on `NOTIFY` from committing transactions and also polls) moves committed rows into
//! the chain in outbox-id order, chaining and deleting them in one transaction of its own. A
//! row whose transaction commits late joins the chain when it becomes visible.
//!
//! ```no_run
//! # async fn demo(store: audit_sqlx::PgStore, pool: sqlx_postgres::PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! let mut tx = pool.begin().await?;
//! // ... the caller's own INSERT/UPDATE on `tx` ...
//! store
//!     .record_in(&mut tx, &audit_core::AuditEvent::builder("FTMS_BOOKING_CREATED").build())
//!     .await?;
//! tx.commit().await?; // the event exists only now
//! store.relay_outbox(1000).await?; // or keep a spawn_relay running
//! # Ok(()) }
//! ```
//!
//! #### From another driver
//!
//! `record_in` takes this crate's sqlx connection. A service on another sqlx major, on
//! `tokio-postgres` or on `diesel` writes the same row with its own driver, inside its own
//! transaction: [`PgStore::outbox_insert`] returns the statement and its one text parameter
//! ([`OutboxInsert`]), checked as `record_in` checks the event. The tables, for a service that
//! must build the row itself:
//!
//! ```sql
//! CREATE TABLE audit.audit_outbox (
//!     id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- relay order
//!     event      jsonb       NOT NULL,   -- the event in audit-core's serde JSON form
//!     created_at timestamptz NOT NULL DEFAULT now()
//! );
//! CREATE TABLE audit.audit_outbox_rejected (  -- rows the relay could not read
//!     id bigint PRIMARY KEY, event text NOT NULL, reason text NOT NULL,
//!     rejected_at timestamptz NOT NULL DEFAULT now()
//! );
//! -- after inserting, to wake a listening relay at commit (it polls as well):
//! SELECT pg_notify('audit_audit_outbox', '');   -- '<schema>_audit_outbox'
//! ```
//!
//! The `event` JSON is what `serde_json` makes of an [`AuditEvent`](audit_core::AuditEvent)
//! (`{"id": "<uuid>", "occurred_at": "<RFC 3339>", "action": "FTMS_BOOKING_CREATED", ...}`).
//! A row that is not such an event does not stop the relay: it is moved, with the reason, to
//! `audit_outbox_rejected` in the relay's transaction, and an error is logged. The test
//! `outbox::rows_written_by_another_driver_are_relayed` writes rows with `psql`.
//!
//! ### Export
//!
//! [`PgStore::export`] streams every record matching an
//! [`AuditQuery`](audit_core::query::AuditQuery) as JSON Lines or CSV through
//! [`audit_core::export::Exporter`], one keyset page at a time.
//!
//!
//! ## MySQL and MariaDB
//!
//! `MySqlStore` (module `mysql`, feature `mysql`) on the `sqlx-mysql` driver. Its guide, with
//! a runnable example, is the `mysql` module's documentation; in short:
//!
//! - **Set-up.** `MySqlStore::connect(url)` (`mysql://user:password@host:3306/app`) creates
//!   the tables `audit_events`, `audit_chain_head`, `audit_anchors`, `audit_outbox`,
//!   `audit_outbox_rejected`, `audit_truncate_guard`, the tree's `audit_tree`,
//!   `audit_checkpoints`, `audit_tree_head` and `audit_tree_guard`, and
//!   `audit_schema_migrations` in the
//!   URL's database; `MySqlOptions::database` and `MySqlOptions::table_prefix` place them
//!   elsewhere. Migrations are embedded and serialised by `GET_LOCK`. The migrating user needs
//!   `CREATE`, `INDEX`, `REFERENCES` and `TRIGGER` (and, on MySQL with binary logging, what
//!   `CREATE TRIGGER` requires there).
//! - **Types.** `DATETIME(6)` in UTC, IPs as `VARBINARY(16)` in network byte order (4 bytes
//!   for IPv4, 16 for IPv6) so a CIDR filter can be one index range, JSON metadata kept exactly
//!   as hashed, `BINARY(32)` hashes, `utf8mb4` text with binary NO PAD collations (`'a'`,
//!   `'a '` and `'A'` are three values, as in Rust).
//! - **Append-only.** Triggers `SIGNAL` on `UPDATE` and `DELETE` of the events, anchors, tree
//!   rows and checkpoints (and on `DELETE` of the tree head row, which writers update); MySQL
//!   has no `TRUNCATE` or `DROP` triggers, so empty tables referencing the events and anchors
//!   (`audit_truncate_guard`) and the tree, checkpoints and tree head (`audit_tree_guard`,
//!   schema 3) make the server refuse both for every user unless a session turns
//!   `foreign_key_checks` off. A checkpoint beyond the chain head is refused; a tree row
//!   inserted there (one trigger check per tree row cost more than the insert, measured) is
//!   stepped over by the writer and reported by verification. Grants are what stop an
//!   application user for good:
//!
//! ```sql
//! -- as the owner, once, after the first MySqlStore::connect with migrations on:
//! CREATE USER 'audit_app'@'%' IDENTIFIED BY '...';
//! GRANT SELECT, INSERT ON app.audit_events TO 'audit_app'@'%';
//! GRANT SELECT, UPDATE ON app.audit_chain_head TO 'audit_app'@'%';   -- moving the head
//! GRANT SELECT ON app.audit_anchors TO 'audit_app'@'%';
//! GRANT SELECT ON app.audit_schema_migrations TO 'audit_app'@'%';
//! GRANT SELECT, INSERT ON app.audit_tree TO 'audit_app'@'%';          -- the Merkle tree
//! GRANT SELECT, INSERT ON app.audit_checkpoints TO 'audit_app'@'%';
//! GRANT SELECT, UPDATE ON app.audit_tree_head TO 'audit_app'@'%';
//! GRANT SELECT, INSERT, DELETE ON app.audit_outbox TO 'audit_app'@'%';  -- outbox mode only
//! GRANT INSERT ON app.audit_outbox_rejected TO 'audit_app'@'%';        -- outbox mode only
//! -- nothing else: no UPDATE or DELETE on the events, no DROP (which TRUNCATE needs).
//! ```
//!
//! The application then connects with `MySqlOptions::migrate(false)`. The tests
//! `grants::app_user_cannot_update_events`, `..._cannot_delete_events`,
//! `..._cannot_truncate_events`, `..._cannot_use_the_retention_path` and
//! `tree_guards::the_app_user_cannot_truncate_or_rewrite_the_tree_tables` prove such a user is
//! refused, and `hostile::a_row_forged_by_the_app_user_is_reported_and_the_writer_goes_on`
//! and `tree_guards::a_tree_row_forged_by_the_app_user_is_reported_and_the_writer_goes_on`
//! that a row it inserts itself is reported by verification and does not stop the writers.
//!
//! Measured (MariaDB 10.11, durable commits, 1 000-event batches, 1M-row table, three runs on
//! a loaded 2-core machine; `docs/benchmarks.md`): appends with the chain and the head lock
//! at 0.74–0.94 of raw multi-row `INSERT`s of the same rows into the same table (0.93–0.95
//! over the interleaved 0 → 1M fill), about 13.5k events/s; newest 50 of an actor 0.55–0.99 ms.
//! Tested against MariaDB 10.11 only (Debian's);
//! MySQL 8.0 is served by the same SQL, with the differences the code knows (collation
//! `utf8mb4_0900_bin`, metadata as a `LONGTEXT` checked by `JSON_VALID` because MySQL's
//! binary JSON would reformat what was hashed), but no MySQL server was available to test it.
//! This build enables no TLS and no RSA key exchange in the driver (as for PostgreSQL), so on
//! MySQL 8 give the user `mysql_native_password` or connect over a socket.
//!
//! ## Tests
//!
//! The integration tests need real servers: `bash scripts/test.sh` starts a throw-away
//! PostgreSQL (`scripts/pg.sh`, sets `DATABASE_URL`) and MariaDB (`scripts/mariadb.sh`, sets
//! `MYSQL_URL`) and runs every test against them. Without those variables the server tests
//! skip with a loud message, unless `CI` is set, where they fail.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// The guide above names both backends; with one feature off, the other's items do not exist.
#![cfg_attr(
    not(all(feature = "postgres", feature = "mysql")),
    allow(rustdoc::broken_intra_doc_links)
)]

#[cfg(not(any(feature = "postgres", feature = "mysql")))]
compile_error!("audit-sqlx needs a backend: enable the `postgres` or the `mysql` feature");

mod append;
mod error;
mod fields;
mod filters;
mod ident;
mod link;
mod metadata;
mod migrations;
mod options;
mod outbox;
mod prepared;
mod read;
mod relay;
mod retention;
mod retry;
mod runtime;
mod tree;

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use error::{Error, Result};
pub use outbox::OutboxInsert;
pub use relay::RelayHandle;
pub use retention::PurgeReport;

#[cfg(feature = "mysql")]
pub use mysql::{MySqlOptions, MySqlStore};
#[cfg(feature = "postgres")]
pub use postgres::{InsertMode, PgOptions, PgStore, SCHEMA_VERSION, SchemaName};

/// The sqlx MySQL driver this crate is built on, for callers' own connections
/// ([`MySqlStore::record_in`] takes a `&mut MySqlConnection`).
#[cfg(feature = "mysql")]
pub use sqlx_mysql;
/// The sqlx PostgreSQL driver this crate is built on, for callers' own connections
/// ([`PgStore::record_in`] takes a `&mut PgConnection`).
#[cfg(feature = "postgres")]
pub use sqlx_postgres;

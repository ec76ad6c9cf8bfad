//! # audit-sqlite
//!
//! A durable, tamper-evident, queryable audit log in one SQLite file, with no server.
//!
//! [`SqliteStore`] is both halves of an audit backend:
//!
//! - an [`AuditSink`](audit_core::AuditSink): the `Auditor` pipeline (crate `audit-pipeline`)
//!   hands it batches, and each batch is committed in the store's **own** transaction on a
//!   dedicated writer thread and connection, never the caller's: an event stays recorded
//!   when the caller's database work rolls back;
//! - an [`AuditStore`](audit_core::AuditStore): filtered, keyset-paginated queries, counts,
//!   chain verification and head checkpoints, plus streaming export and archival.
//!
//! ## Quick start
//!
//! ```
//! use audit_core::{Actor, AuditEvent, AuditStore, AuditQuery};
//! use audit_sqlite::SqliteStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("audit.db");
//! let store = SqliteStore::open(&path)?;
//!
//! // Normally the `Auditor` pipeline batches events into the store; `append` writes directly.
//! let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
//!     .actor(Actor::user("alice"))
//!     .entity("booking", "b-42")
//!     .build();
//! let positions = store.append(&[event]).await?;
//! assert_eq!(positions[0].seq, 1);
//!
//! let page = store.query(&AuditQuery::new().actor("alice").limit(50)).await?;
//! assert_eq!(page.events.len(), 1);
//!
//! let report = store.verify(Default::default(), None).await?;
//! assert!(report.is_valid());
//! # Ok(()) }
//! ```
//!
//! To record through the pipeline, hand the store to the `audit` facade (`audit::init(
//! audit::sqlite("audit.db"))`, or `audit::Setup::new(store)` for a store opened with
//! [`SqliteOptions`]), which gives the `Auditor` one clone as its sink and keeps another for
//! queries: clones share one writer thread and one pool of reader connections. This crate
//! does not depend on the pipeline.
//!
//! ## How the file is laid out
//!
//! - `audit_events`: one row per event, `seq` as the `INTEGER PRIMARY KEY`, the IP address
//!   as a sortable BLOB (a family byte, then the address bytes) so a CIDR filter is an index
//!   range scan. Indexes serve the common queries at millions of rows: by actor, by entity,
//!   by time (covering the action, for counts per day), by action, by IP, by request id,
//!   and a unique index on the event id (a replayed batch is not stored twice).
//!   The actor, entity, IP and request-id indexes lead with `seq >> 13` (buckets of 8 192
//!   consecutive events): their keys are random, and without the bucket every commit
//!   rewrote about one index page per event per index (14k events/s with 1 000-event
//!   commits at 1M events on the reference machine; about 100k with buckets).
//!   A lookup walks the buckets newest first with one index seek each and stops when its
//!   page is full. So that a key with few matches does not cost one seek per 8 192 stored
//!   events, every complete bucket has a Bloom filter per key kind, and a lookup seeks only
//!   the buckets that may hold its key: see [Lookups at scale](#lookups-at-scale).
//! - `audit_bucket_filters`: those filters, 8 KiB per complete bucket and key kind (4 bytes
//!   per event), written in the transaction of the append that completes the bucket.
//! - A time range or an action prefix is a range of its index (`audit_events_time`,
//!   `audit_events_action`) that may hold much of the log, in time or action order, not
//!   `seq` order: see [Pages of broad filters](#pages-of-broad-filters).
//! - `audit_meta`: the schema version, the chain algorithm and a check value of the HMAC
//!   key (a store refuses to open with another key), and the archive anchor.
//! - `audit_archives`: the log of archivals.
//! - `audit_tree_runs`: the Merkle tree's stored hashes (docs/chain.md §6), the rows of up
//!   to 256 consecutive events per row, written in the events' transaction: a 1 000-event
//!   append inserts four or five tree rows, not 1 000. `audit_checkpoints`: the signed
//!   checkpoints. Both are kept when events are archived, so old checkpoints stay provable.
//!
//! The schema is versioned in `audit_meta` (not `PRAGMA user_version`, which belongs to the
//! application when it shares the file): an older file is upgraded when opened, a newer one
//! is refused with [`Error::SchemaTooNew`], and a file that is not ours gives
//! [`Error::NotADatabase`] or [`Error::Foreign`], never a panic.
//!
//! ## Lookups at scale
//!
//! A lookup index keyed by a random value (an actor, a request id) either writes about one
//! page per event per index, which is what made plain indexes ingest 14k events/s at 1M, or
//! leads with something local (the seq bucket), which makes each lookup visit every bucket.
//! Bigger buckets move cost from lookups to appends in proportion; a log-structured merge of
//! sorted key runs keeps both cheap but rewrites every key once per level, which in SQLite
//! (one row write per key) costs more than the appends themselves. The filters cost neither:
//! a bucket's filter is built once, from its index range (a covering scan of 8 192 entries
//! per kind), and a lookup tests a key against every complete bucket with 5 word reads per
//! 64 buckets, from filters its store loads into memory on the first lookup of that kind
//! (about 1 MiB per million events per kind) and tops up as buckets complete. At 2^16 bits
//! and 5 probes per filter, a bucket of 8 192 distinct keys lets about 2 % of other keys
//! through, so a key seen once costs the seek of its own bucket, the open bucket's, and
//! about one more per 50 buckets. CIDR filters of a /24 (IPv6: /64) or narrower use the
//! filters (addresses are keyed by that network); wider ones walk every bucket. Measured
//! figures: `docs/benchmarks.md` (the `scale` bench).
//!
//! A filter only narrows lookups: a bucket whose filter is missing or malformed is sought,
//! verification never reads the filters, and triggers refuse `UPDATE` and `DELETE` on them
//! (a filter rewritten to exclude a key would hide its events from lookups and exports
//! filtered by that key, never from verification or unfiltered exports).
//!
//! ## Pages of broad filters
//!
//! A page is the newest (or oldest) `limit` matches by `seq`. Where a lookup index or an
//! exact action serves the filter, its entries come in `seq` order and the page stops
//! early. A time range or an action prefix is different: SQLite's plan reads every match
//! through the index and sorts them by `seq` (measured at 1M events: one day of a month,
//! 33 000 matches, 50 ms; the prefix `FTMS_`, half the log, 300 ms). Walking `seq` and
//! filtering stops after the page, but only where matches are dense: one day ten days back
//! lies 670 000 rows below the newest. Planner statistics (the writer keeps `sqlite_stat1`
//! current) do not help: the planner prices a walk at the whole table, not at where a
//! `LIMIT` stops it, and no statistic says where in `seq` a time range falls, which
//! backdated events (recorded late with an old `occurred_at`) make arbitrary.
//!
//! So such a page measures instead of guessing, each step exact:
//!
//! 1. walk the newest 4 096 rows (from the cursor) with the whole filter: recent, broad
//!    filters (the last day, a common prefix, the whole month) fill their page here, in
//!    well under a millisecond;
//! 2. otherwise count the filter's matches in its index beyond those rows, with their
//!    lowest and highest `seq`: the index holds the time, the action and the `seq`, so
//!    this reads index entries only (a few ms for one day at 1M events, a tenth of the
//!    row lookups and sort it spares);
//! 3. walk that `seq` window when it holds at least one match per 8 rows, else read the
//!    index within the window as before: a window thinned by backdated events costs no
//!    more than the plain plan plus step 2.
//!
//! Every step applies the whole filter within bounds that contain every match, in one read
//! transaction, so pages are the same rows in the same order as the plain query's; the
//! tests compare every page, both ways and from cursors, with
//! [`AuditQuery::matches`](audit_core::AuditQuery::matches) over a log with backdated
//! events. Counts, exports and the other filters keep their single statement.
//!
//! ## Writing, and several processes
//!
//! Each batch is one `BEGIN IMMEDIATE` transaction: the chain head is read and advanced
//! while SQLite's write lock is held, so several stores (even in several processes) on one
//! file extend one gap-free chain. The database runs in WAL mode, so readers never block
//! the writer. Commits are `synchronous = FULL` by default (see [`Durability`]).
//!
//! SQLite allows one writer at a time per file. If the application keeps its own tables
//! in the same file, an audit write waits for the application's open write transaction
//! (up to the busy timeout): record with the non-blocking `record` inside such a
//! transaction, not with `record_durable`.
//!
//! ## Append-only, and the one way to delete
//!
//! Triggers abort every `UPDATE` and `DELETE` on `audit_events` (and are re-created, with a
//! warning, if someone drops them). Retention goes through [`SqliteStore::archive`] only:
//! it writes the events before a cut-off to a JSON Lines archive whose first line holds the
//! chain anchor (audit-core's backend-neutral [`archive`](audit_core::archive) format, the
//! same as PostgreSQL's), deletes them through a gate that exists only inside that transaction,
//! moves the live chain's anchor, and appends an [`ARCHIVED_ACTION`] event naming the range
//! and the archive's SHA-256. Triggers stop mistakes, not an attacker with write access to
//! the file: the hash chain (with an HMAC key, see [`SqliteOptions::hasher`]) is what makes
//! tampering visible.
//!
//! ```
//! # use audit_core::{AuditEvent, AuditStore};
//! # use audit_sqlite::SqliteStore;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let store = SqliteStore::open(dir.path().join("audit.db"))?;
//! # store.append(&[AuditEvent::builder("USER_LOGIN").build()]).await?;
//! let cut_off = chrono::Utc::now();
//! let archive = store.archive(cut_off, dir.path().join("archive-1.jsonl")).await?;
//! assert_eq!(archive.count, 1);
//!
//! let alone = audit_sqlite::verify_archive(&archive.path, store.hasher())?;
//! assert!(alone.report.is_valid());
//! assert_eq!(alone.sha256, archive.sha256);
//! assert!(store.verify(Default::default(), None).await?.is_valid());
//! # Ok(()) }
//! ```
//!
//! ## Export
//!
//! [`SqliteStore::export`] writes a query's result as JSON Lines or CSV (formula injection
//! escaped) with audit-core's [`Exporter`](audit_core::export::Exporter), streaming rows
//! from one snapshot in constant memory.
//!
//! ## Verification
//!
//! [`AuditStore::verify`](audit_core::AuditStore::verify) streams the chain in `seq` order
//! through [`ChainVerifier`](audit_core::chain::ChainVerifier) in constant memory and names
//! the first bad `seq` and the fault kind. Keep the checkpoint from
//! [`AuditStore::head`](audit_core::AuditStore::head) somewhere else (a ticket, another
//! system): verifying against it later detects a truncated tail.
//!
//! Verification uses every core by default. Reading the rows costs more than hashing them,
//! so a long range is read by one connection per core, each taking every n-th stripe of
//! 2 048 seqs and decoding and hashing its own rows, while the calling thread links the
//! stripes in order. The connections share one snapshot: writers are held off (the write
//! lock taken with `BEGIN IMMEDIATE`, waiting up to the busy timeout) for the moment it
//! takes to begin their read transactions, then released. Where stripes do not apply (a
//! short range, a read-only file, a lock that cannot be had, seqs missing) the rows are read
//! by one statement while worker threads hash them. Either way the report is exactly the
//! one-thread report (the tests compare them on every tamper case).
//! [`SqliteOptions::verify_parallelism`] sets the thread count ([`Parallelism::sequential`]
//! for one), [`SqliteStore::verify_chain_with`] overrides it for one call. Measured at 10M
//! events on 2 cores: 1.73× the one-thread rate (0.42 → 0.73M events/s; reading alone on
//! one connection runs at 0.77M rows/s), figures in `docs/benchmarks.md` §5.
//!
//! ```
//! use audit_core::AuditEvent;
//! use audit_core::chain::Parallelism;
//! use audit_core::store::VerifyScope;
//! use audit_sqlite::{SqliteOptions, SqliteStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("audit.db");
//! let store = SqliteStore::open_with(
//!     SqliteOptions::new(&path).verify_parallelism(Parallelism::threads(4)),
//! )?;
//! store.append(&[AuditEvent::builder("USER_LOGIN").build()]).await?;
//! let report = store.verify_chain(VerifyScope::All, None).await?;
//! assert!(report.is_valid());
//! // The same report on one thread.
//! let alone = store
//!     .verify_chain_with(VerifyScope::All, None, Parallelism::sequential())
//!     .await?;
//! assert_eq!((alone.checked, alone.fault), (report.checked, report.fault));
//! # Ok(()) }
//! ```
//!
//! [`Parallelism::sequential`]: audit_core::chain::Parallelism::sequential
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod archive;
mod bucket_filter;
mod chain_append;
mod codec;
mod error;
mod export;
mod options;
mod query;
mod reader;
mod retention_gate;
mod schema;
mod snapshot;
mod store;
mod tree;
mod verify;
mod verify_striped;
mod window;
mod writer;

pub use archive::verify_archive;
pub use audit_core::archive::{ARCHIVED_ACTION, ArchiveHeader, ArchiveReport, ArchiveVerification};
pub use error::{Error, Result};
pub use options::{Durability, SqliteOptions};
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;

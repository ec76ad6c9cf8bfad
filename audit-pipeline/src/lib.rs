//! # audit-pipeline
//!
//! The [`Auditor`]: a bounded queue, a batching worker, retry, spool and replay between the
//! code that records audit events and an [`AuditSink`](audit_core::AuditSink).
//!
//! Applications reach it through the `audit` facade (`audit::init` builds one and installs it
//! as the process default). It is its own crate so that the backends (`audit-sqlite`,
//! `audit-sqlx`) and framework integrations (`audit-axum`) depend on the vocabulary in
//! `audit-core` only: they never see this crate's runtime, threads or files, and a change
//! here rebuilds none of them. The `Auditor` plugs into `audit-core`'s routing as a
//! [`Recorder`](audit_core::Recorder).
//!
//! ```text
//! record ─▶ bounded queue ─▶ worker: prepare (context, redaction, validation), observers
//!              │ full?                  │
//!              └─ OverflowPolicy        └─▶ sink.write(batch) ─ error ─▶ retry with backoff
//!                                                  ▲                        │ still failing
//!                                                  └──── replay in order ◀── spool (files)
//! ```
//!
//! - [`Auditor::record`] is cheap: it captures the current [`AuditContext`](audit_core::AuditContext) (an `Arc`
//!   clone) and queues the event; it waits only when the queue is full (see
//!   [`OverflowPolicy`]). Validation, redaction and the context merge happen on the
//!   worker, where explicit event fields win over the context.
//! - The worker runs on its own thread with its own single-threaded tokio runtime, so the
//!   pipeline works from plain synchronous code (a CLI), and from inside multi-thread and
//!   current-thread runtimes, and the `*_blocking` calls cannot deadlock: nothing they wait
//!   for needs the caller's runtime.
//! - Nothing is lost by default: a full queue makes the caller wait, so memory stays
//!   bounded ([`OverflowPolicy::Block`], which also says what `record` does instead in a
//!   current-thread runtime, where waiting could starve the sink); a failing sink is
//!   retried ([`RetryPolicy`]), then the batch is spooled and replayed in order, before
//!   newer events, once the sink recovers. With [`spool_dir`](AuditorBuilder::spool_dir),
//!   a spool left by a crashed process is replayed on the next start (see [the spool
//!   format](spool)). A batch the sink rejects for good is written one event at a time,
//!   and only the refused events go to a dead-letter file.
//! - **When the store is down or hangs**, callers are not held up. The sink runs on a thread
//!   of its own and every call has a deadline ([`write_timeout`](AuditorBuilder::write_timeout),
//!   5 s by default); a batch is retried within a time budget ([`RetryPolicy::max_elapsed`],
//!   2 s) and then spooled, so the first batch of an outage is diverted within about 5 s
//!   (the deadline of the attempt under way) and every later one at once: while the spool
//!   holds events, new batches go straight behind them, and replays of the oldest segments
//!   run on the sink's thread while the worker goes on draining the queue. A caller waits
//!   only if more than the queue's capacity (8 192) arrives during that first diversion.
//!   Measured (tests/tests/postgres_outage.rs): PostgreSQL stopped for 6 s under 200
//!   events/s, the longest `record` stayed under the test's 500 ms bound (it is a few µs
//!   otherwise), every event was stored once, in order, 7.8 s after the server came back,
//!   on a 2-core machine under heavy load. Delivery is at least once: a write abandoned at
//!   its deadline may still commit, and its replay is then acknowledged by event id.
//!   Without a spool directory the spool lives in memory, bounded to the queue's capacity;
//!   past that the queue fills and the overflow policy applies. The same holds when the
//!   spool's disk is full or gone too: a segment that cannot be written stays in memory,
//!   each failed write is reported ([`PipelineError::Spool`] through `tracing` and the
//!   [`on_error`](AuditorBuilder::on_error) hook), at most the queue's capacity is held so,
//!   and then the overflow policy decides (tests/pipeline/faults.rs removes the directory
//!   under a running auditor: every event is stored or counted as dropped).
//! - An invalid event never reaches the caller as an error: it is reported (`tracing`,
//!   [`Metrics::invalid`], the [`on_error`](AuditorBuilder::on_error) hook) and an
//!   `AUDIT_EVENT_INVALID` event is written in its place.
//!
//! ```
//! use audit_core::{Actor, AuditContext, AuditEvent, sinks::MemorySink};
//! use audit_pipeline::Auditor;
//!
//! let sink = MemorySink::new();
//! let auditor = Auditor::builder(sink.clone()).build().unwrap();
//! let _guard = auditor.guard(); // drains the queue when main returns
//!
//! AuditContext::new().actor(Actor::user("alice")).sync_scope(|| {
//!     auditor.record(AuditEvent::builder("USER_LOGIN").build());
//! });
//! auditor.flush_blocking().unwrap();
//! assert_eq!(sink.events()[0].actor, Some(Actor::user("alice")));
//! assert_eq!(auditor.metrics().written, 1);
//! ```
//!
//! In async code, await [`Auditor::record_async`] for backpressure, and
//! [`Auditor::record_durable`] when the caller must know the event is committed:
//!
//! ```
//! use audit_core::{AuditEvent, sinks::MemorySink};
//! use audit_pipeline::Auditor;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let auditor = Auditor::builder(MemorySink::new()).build().unwrap();
//! let receipt = auditor
//!     .record_durable(AuditEvent::builder("PAYMENT_CAPTURED").build())
//!     .await
//!     .unwrap();
//! assert_eq!(receipt.position.unwrap().seq, 1);
//! auditor.shutdown().await.unwrap();
//! # });
//! ```
//!
//! Delivery is at least once: a crash between a sink commit and the removal of the spool
//! file it came from replays that batch again. Event ids identify duplicates.
//!
//! # Modules, one behaviour each
//!
//! `auditor` (the handle and its controls), `queue` (the bounded queue and its wake-ups),
//! `overflow` (what `record` does when the queue is full), `lane` (the overflow lane: the
//! producer's spill, the file, the worker's reader), `worker` (batching, delivery, replay,
//! flush and shutdown), [`spool`] (segments, the record format, the directory lock), `retry`,
//! `report` (tracing, counters and the error hook), `metrics`, `guard`, `builder`.
#![deny(missing_docs)]

mod auditor;
mod builder;
mod error;
mod guard;
mod lane;
mod metrics;
mod overflow;
mod queue;
mod report;
mod retry;
mod shared;
mod sink_runner;
pub mod spool;
mod worker;

pub use audit_core::prepare::INVALID_EVENT_ACTION;
pub use auditor::Auditor;
pub use builder::AuditorBuilder;
pub use error::{BuildError, PipelineError, RecordError};
pub use guard::AuditorGuard;
pub use metrics::Metrics;
pub use overflow::OverflowPolicy;
pub use retry::RetryPolicy;

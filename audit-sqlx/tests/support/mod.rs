//! Backend-neutral helpers of the integration tests: varied events, reading a whole store
//! back, an independent chain check, unique names; and the checks of behaviours both SQL
//! backends share, written once.
#![allow(dead_code)]
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use audit_core::chain::{ChainHash, Parallelism, VerifyReport};
use audit_core::query::{AuditQuery, Order};
use audit_core::{
    Actor, AuditEvent, AuditStore, Category, ChainHasher, ChainPosition, Severity, StoredEvent,
};

pub mod tlog;

/// The server's refusal of `sql`, run with `result`; panics when it succeeded.
pub fn refused(sql: &str, result: Result<u64, sqlx_core::Error>) -> String {
    match result {
        Ok(n) => panic!("{sql}: succeeded ({n} rows) on an append-only table"),
        Err(err) => err.to_string(),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lowercase name (schema, database) unique to this test run.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t_{tag}_{}_{n}_{nanos:x}", std::process::id())
}

/// A varied event: actor, entity, ip, metadata depend on `i`.
pub fn event(i: usize) -> AuditEvent {
    let actors = ["alice", "bob", "carol"];
    let actions = [
        "FTMS_BOOKING_CREATED",
        "FTMS_BOOKING_CANCELLED",
        "AUTHN_LOGIN_OK",
    ];
    let ips = [
        "10.1.2.3",
        "10.200.0.9",
        "192.168.1.20",
        "2001:db8::7",
        "::ffff:10.9.9.9",
    ];
    let mut b = AuditEvent::builder(actions[i % actions.len()])
        .actor(Actor::user(actors[i % actors.len()]))
        .entity("booking", format!("b-{}", i % 7))
        .ip(ips[i % ips.len()].parse().expect("valid ip"))
        .request_id(format!("r-{i}"))
        .tenant(if i.is_multiple_of(2) {
            "acme"
        } else {
            "globex"
        })
        .description(format!("booking number {i} for seats"))
        .severity(if i.is_multiple_of(5) {
            Severity::Warning
        } else {
            Severity::Info
        })
        .category(if i % 3 == 2 {
            Category::Authentication
        } else {
            Category::Business
        })
        .metadata_entry("i", i)
        .metadata_entry("ratio", i as f64 / 8.0);
    if i % 4 == 3 {
        b = b.failure("no seats left");
    }
    b.build()
}

pub fn events(range: std::ops::Range<usize>) -> Vec<AuditEvent> {
    range.map(event).collect()
}

/// Every stored record, oldest first, through the store's public query API.
pub async fn all_records(store: &impl AuditStore) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut q = AuditQuery::new().order(Order::OldestFirst).limit(1000);
    loop {
        let page = store.query(&q).await.expect("query");
        out.extend(page.events);
        match page.next {
            Some(cursor) => q = q.after(cursor),
            None => return out,
        }
    }
}

/// Checks the chain by recomputing it here (independent of the store's verifier): seqs are
/// 1..=n without gaps and every hash links to the previous one.
pub fn assert_chain_links(records: &[StoredEvent], hasher: &ChainHasher) {
    let mut prev = ChainHash::ZERO;
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "seq gap or reorder at index {i}");
        assert_eq!(
            r.prev_hash, prev,
            "prev_hash of seq {} does not link",
            r.seq
        );
        assert_eq!(
            r.hash,
            hasher.hash(&prev, &r.event),
            "hash of seq {} is wrong",
            r.seq
        );
        prev = r.hash;
    }
}

// ----- Behaviours both SQL backends must show, checked on a fresh store of either -----
//
// Each takes a store that is an `AuditSink` and an `AuditStore` (both backends are), so one
// body serves the PostgreSQL and the MySQL test of the same behaviour.

/// Positions of `batch` written through the sink.
pub async fn write(store: &impl audit_core::AuditSink, batch: &[AuditEvent]) -> Vec<ChainPosition> {
    let ack = store.write(batch).await.expect("batch committed");
    (0..batch.len())
        .map(|i| ack.position(i).expect("a chained ack"))
        .collect()
}

/// A retried batch is acknowledged with its stored positions and not stored again.
pub async fn check_retried_batch_is_acknowledged(store: impl audit_core::AuditSink + AuditStore) {
    let batch = events(0..5);
    let first = write(&store, &batch).await;
    let again = write(&store, &batch).await;
    assert_eq!(again, first);
    assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), 5);
}

/// A batch mixing stored and new events stores only the new ones, chained after the rest.
pub async fn check_mixed_batch_stores_only_new_events(
    store: impl audit_core::AuditSink + AuditStore,
) {
    let batch = events(0..6);
    let first = write(&store, &batch[..3]).await;
    let all = write(&store, &batch).await;
    assert_eq!(&all[..3], &first[..]);
    let new_seqs: Vec<u64> = all[3..].iter().map(|p| p.seq).collect();
    assert_eq!(new_seqs, vec![4, 5, 6]);
    assert_chain_links(&all_records(&store).await, &ChainHasher::sha256());
}

/// The same event twice in one batch is stored once.
pub async fn check_same_event_twice_is_stored_once(store: impl audit_core::AuditSink + AuditStore) {
    let e = event(0);
    let positions = write(&store, &[e.clone(), e]).await;
    assert_eq!(positions[0], positions[1]);
    assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), 1);
}

/// Tasks writing at once on one store build one gap-free chain.
pub async fn check_concurrent_tasks_build_one_chain<S>(store: S)
where
    S: audit_core::AuditSink + AuditStore + Clone,
{
    let mut handles = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for b in 0..5 {
                let start = t * 100 + b * 10;
                write(&store, &events(start..start + 10)).await;
            }
        }));
    }
    for h in handles {
        h.await.expect("writer task");
    }
    let records = all_records(&store).await;
    assert_eq!(records.len(), 200);
    assert_chain_links(&records, &ChainHasher::sha256());
}

// ----- Several OS processes writing at once -----

/// How many processes, batches per process and events per batch the multi-process tests use.
pub const WRITERS: usize = 4;
pub const WRITER_BATCHES: usize = 25;
pub const WRITER_BATCH: usize = 20;

/// Batch `b` of writer `writer`: its own events, tagged with the writer in `session_id`.
pub fn writer_batch(writer: usize, b: usize) -> Vec<AuditEvent> {
    let start = writer * 10_000 + b * WRITER_BATCH;
    events(start..start + WRITER_BATCH)
        .into_iter()
        .map(|mut e| {
            e.session_id = Some(format!("writer-{writer}"));
            e
        })
        .collect()
}

/// Runs [`WRITERS`] copies of this test binary's test `child` at once, each with `env` and
/// `AUDIT_SQLX_CHILD_ID`, and waits for all; a failing child fails the test with its output.
pub fn run_writer_processes(child: &str, env: &[(&str, &str)]) {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().expect("test binary path");
    let children: Vec<_> = (0..WRITERS)
        .map(|id| {
            let mut cmd = Command::new(&exe);
            cmd.args([child, "--exact", "--nocapture", "--test-threads=1"])
                .env("AUDIT_SQLX_CHILD_ID", id.to_string())
                // The child's libtest summary would read like this binary's own; keep it and
                // show it only when the child fails.
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.spawn().expect("spawn writer process")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait for writer process");
        assert!(
            out.status.success(),
            "a writer process failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The writer id of a child started by [`run_writer_processes`].
pub fn child_writer_id() -> usize {
    std::env::var("AUDIT_SQLX_CHILD_ID")
        .expect("the parent passes AUDIT_SQLX_CHILD_ID")
        .parse()
        .expect("numeric writer id")
}

/// After [`run_writer_processes`]: exactly every event of every writer, in one gap-free,
/// valid chain.
pub async fn assert_every_writer_in_one_chain(store: &impl AuditStore) {
    let total = (WRITERS * WRITER_BATCHES * WRITER_BATCH) as u64;
    assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), total);
    let records = all_records(store).await;
    assert_chain_links(&records, &ChainHasher::sha256());
    for w in 0..WRITERS {
        let n = records
            .iter()
            .filter(|r| r.event.session_id.as_deref() == Some(&format!("writer-{w}")))
            .count();
        assert_eq!(n, WRITER_BATCHES * WRITER_BATCH, "writer {w}");
    }
    let report = store
        .verify(audit_core::store::VerifyScope::All, None)
        .await
        .expect("verify");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, total);
}

// ----- Server tests never pass silently without a server -----

/// Re-runs this test binary's test `probe` with `url_var` removed, and `CI` set or not.
pub fn run_probe(probe: &str, url_var: &str, ci: bool) -> std::process::Output {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([probe, "--exact", "--nocapture", "--test-threads=1"])
        .env("AUDIT_SQLX_PROBE", "1")
        .env_remove(url_var)
        .env_remove("CI");
    if ci {
        cmd.env("CI", "true");
    }
    cmd.output().expect("run the probe")
}

/// Whether this process is a probe started by [`run_probe`].
pub fn is_probe() -> bool {
    std::env::var_os("AUDIT_SQLX_PROBE").is_some()
}

/// The probe fails under CI, saying `url_var` is missing.
pub fn assert_probe_fails_under_ci(probe: &str, url_var: &str) {
    let out = run_probe(probe, url_var, true);
    assert!(
        !out.status.success(),
        "the probe passed without a server under CI"
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{url_var} is not set and CI is")),
        "{text}"
    );
}

/// The probe passes outside CI, saying loudly that it skipped.
pub fn assert_probe_skips_loudly(probe: &str, url_var: &str) {
    let out = run_probe(probe, url_var, false);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SKIPPED"));
}

// ----- Retention -----

/// A store's one privileged delete path (each backend's test helpers implement it).
#[async_trait::async_trait]
pub trait Purge: AuditStore + audit_core::AuditSink {
    async fn purge(&self, cutoff: chrono::DateTime<chrono::Utc>) -> audit_sqlx::PurgeReport;
    /// The store's newest retention anchor.
    async fn anchor(&self) -> Option<audit_core::chain::ChainAnchor>;
}

/// Events 400 days old, a second apart.
fn old_events(n: usize) -> Vec<AuditEvent> {
    let old = chrono::Utc::now() - chrono::Duration::days(400);
    (0..n)
        .map(|i| {
            AuditEvent::builder("OLD")
                .occurred_at(old + chrono::Duration::seconds(i as i64))
                .build()
        })
        .collect()
}

fn a_year_ago() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(365)
}

/// Retention removes an old prefix, records its anchor, and the rest still verifies.
pub async fn check_retention_removes_an_old_prefix(store: impl Purge) {
    write(&store, &old_events(5)).await;
    write(&store, &events(0..3)).await;
    let report = store.purge(a_year_ago()).await;
    assert_eq!(report.deleted, 5);
    assert_eq!(report.anchor.map(|a| a.seq), Some(5));
    assert_eq!(store.anchor().await, report.anchor);
    assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), 3);
    let verified = store
        .verify(audit_core::store::VerifyScope::All, None)
        .await
        .expect("verify");
    assert!(verified.is_valid(), "{verified:?}");
    let range = audit_core::store::VerifyScope::Range { from: 6, to: 8 };
    let verified = store.verify(range, None).await.expect("verify");
    assert!(verified.is_valid(), "{verified:?}");
}

/// Retention stops at the first event (by seq) newer than the cutoff.
pub async fn check_retention_stops_at_the_first_newer_event(store: impl Purge) {
    let old = chrono::Utc::now() - chrono::Duration::days(400);
    let at = |t| AuditEvent::builder("E").occurred_at(t).build();
    // seq 3 is new, seq 4 is old again (clock skew between writers): only 1..=2 may go.
    write(&store, &[at(old), at(old), at(chrono::Utc::now()), at(old)]).await;
    let report = store.purge(a_year_ago()).await;
    assert_eq!(report.deleted, 2);
    let left: Vec<u64> = all_records(&store).await.iter().map(|r| r.seq).collect();
    assert_eq!(left, vec![3, 4]);
}

/// Metadata holding NUL is refused before anything is written, naming why.
pub async fn check_nul_metadata_is_refused(store: impl audit_core::AuditSink + AuditStore) {
    let bad = AuditEvent::builder("A")
        .metadata(serde_json::json!({"k": "a\u{0}b"}))
        .build();
    let err = store.write(&[event(0), bad]).await.expect_err("refused");
    assert!(!err.is_retryable(), "{err}");
    assert!(format!("{err:?}").contains("MetadataNul"), "{err:?}");
    assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), 0);
}

/// An invalid event refuses the whole batch, as a permanent (not retried) error.
pub async fn check_invalid_event_rejects_the_whole_batch(
    store: impl audit_core::AuditSink + AuditStore,
) {
    let bad = AuditEvent::builder("not a code!").build();
    let err = store.write(&[event(0), bad]).await.expect_err("refused");
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), 0);
}

// ----- The chain's hasher -----

/// Opens a second store on the same tables with another hasher (each backend's test helpers
/// implement it).
#[async_trait::async_trait]
pub trait Reopen: AuditStore + audit_core::AuditSink + Sized {
    async fn reopen_with(&self, hasher: ChainHasher) -> Self;
}

/// A store keeps the chain algorithm of its first write: another one is refused for good.
pub async fn check_the_chain_keeps_its_first_algorithm(store: impl Reopen) {
    write(&store, &events(0..1)).await;
    let keyed = store.reopen_with(ChainHasher::hmac_sha256(b"k")).await;
    let err = keyed.write(&events(1..2)).await.expect_err("refused");
    assert!(!err.is_retryable(), "{err}");
    assert!(
        format!("{:?}", err).contains("linked with sha256"),
        "{err:?}"
    );
}

/// An HMAC-keyed store links its chain with the key.
pub async fn check_hmac_chain_links_with_the_key(store: impl Reopen) {
    let hasher = ChainHasher::hmac_sha256(b"secret key");
    let keyed = store.reopen_with(hasher.clone()).await;
    write(&keyed, &events(0..5)).await;
    assert_chain_links(&all_records(&keyed).await, &hasher);
}

/// A store opened on one runtime keeps working once that runtime is gone: from another
/// runtime (after a query there was cancelled mid-flight), and from a plain executor with no
/// Tokio context at all. Before stores ran their connections on a runtime of their own, the
/// pooled connections stayed bound to the runtime that opened them ("A Tokio 1.x context was
/// found, but it is being shutdown").
pub fn check_store_outlives_the_runtimes_that_used_it<S, Fut>(open: impl FnOnce() -> Fut)
where
    S: audit_core::AuditSink + AuditStore,
    Fut: std::future::Future<Output = S>,
{
    let runtime = |threads| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("a test runtime")
    };
    let opener = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime");
    let store = opener.block_on(async {
        let store = open().await;
        write(&store, &events(0..10)).await;
        store
    });
    drop(opener);

    let other = runtime(2);
    other.block_on(async {
        write(&store, &events(10..20)).await;
        assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), 20);
        // Dropped while it waits for the server: its connection goes back to the pool on the
        // store's runtime, not on this one, which is shut down next.
        let cancelled = tokio::time::timeout(
            std::time::Duration::from_micros(1),
            store.query(&AuditQuery::new().limit(500)),
        )
        .await;
        drop(cancelled);
    });
    drop(other);

    futures::executor::block_on(async {
        write(&store, &events(20..30)).await;
        let records = all_records(&store).await;
        assert_eq!(
            records.len(),
            30,
            "every event of every runtime stored once"
        );
        let report = store
            .verify(audit_core::store::VerifyScope::All, None)
            .await
            .expect("verify");
        assert!(report.is_valid(), "{report:?}");
    });

    // And on yet another runtime, after a plain executor used it.
    runtime(1).block_on(async {
        assert_eq!(store.count(&AuditQuery::new()).await.expect("count"), 30);
    });
}

// ----- Archival -----

use audit_core::archive::{ARCHIVED_ACTION, ArchiveError, verify_archive};
use audit_core::chain::FaultKind;
use audit_core::store::VerifyScope;
use audit_sqlx::Error;
use chrono::{DateTime, Duration, Utc};

/// A store's archival path (each backend's test helpers implement it).
#[async_trait::async_trait]
pub trait Archiver: AuditStore + audit_core::AuditSink {
    async fn archive(
        &self,
        before: DateTime<Utc>,
        path: impl Into<std::path::PathBuf> + Send,
    ) -> Result<audit_core::archive::ArchiveReport, audit_sqlx::Error>;
    /// The backend's name in archive headers (`postgres`, `mysql`).
    fn source(&self) -> &'static str;
    /// Changes the entity id of the record at `seq` behind the store's back.
    async fn forge_entity_id(&self, seq: u64);
}

fn archive_old() -> DateTime<Utc> {
    Utc::now() - Duration::days(400)
}

fn archive_cutoff() -> DateTime<Utc> {
    Utc::now() - Duration::days(365)
}

/// `old_n` events older than the cut-off, then `new_n` recent ones.
async fn archive_filled(store: &impl audit_core::AuditSink, old_n: i64, new_n: i64) {
    let events: Vec<AuditEvent> = (0..old_n)
        .map(|i| {
            AuditEvent::builder("OLD")
                .occurred_at(archive_old() + Duration::seconds(i))
                .entity("booking", format!("b-{i}"))
                .build()
        })
        .chain((0..new_n).map(|i| {
            AuditEvent::builder("NEW")
                .entity("n", i.to_string())
                .build()
        }))
        .collect();
    write(store, &events).await;
}

pub async fn check_archive_moves_the_old_prefix_to_a_file_that_verifies_alone(
    store: impl Archiver,
) {
    archive_filled(&store, 6, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pg-archive.jsonl");
    let report = store.archive(archive_cutoff(), &path).await.unwrap();
    assert_eq!((report.from_seq, report.to_seq, report.count), (1, 6, 6));

    let alone = verify_archive(&path, &ChainHasher::sha256()).unwrap();
    assert!(alone.report.is_valid(), "{:?}", alone.report);
    assert_eq!(alone.report.checked, 6);
    assert_eq!(alone.sha256, report.sha256);
    assert_eq!(alone.header.source.as_deref(), Some(store.source()));

    let live = store.verify(VerifyScope::All, None).await.unwrap();
    assert!(live.is_valid(), "{live:?}");
    assert_eq!(
        live.checked, 4,
        "3 recent events and the AUDIT_ARCHIVED event"
    );
}

pub async fn check_archive_records_an_event_with_the_files_sha256(store: impl Archiver) {
    archive_filled(&store, 4, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let report = store
        .archive(archive_cutoff(), dir.path().join("a.jsonl"))
        .await
        .unwrap();
    let page = store
        .query(&AuditQuery::new().action(ARCHIVED_ACTION))
        .await
        .unwrap();
    let event = &page.events[0];
    assert_eq!(Some(event.seq), report.event_seq);
    assert_eq!(event.seq, 6);
    assert_eq!(
        event.event.metadata["archive_sha256"],
        report.sha256.as_str()
    );
    assert_eq!(event.event.metadata["from_seq"], 1);
    assert_eq!(event.event.metadata["to_seq"], 4);
    assert_eq!(
        event.event.actor.as_ref().map(|a| a.id.as_str()),
        Some(format!("audit-{}", store.source()).as_str())
    );
}

pub async fn check_a_second_archive_starts_from_the_first_ones_anchor(store: impl Archiver) {
    archive_filled(&store, 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    store
        .archive(archive_cutoff(), dir.path().join("1.jsonl"))
        .await
        .unwrap();
    archive_filled(&store, 2, 1).await;
    let second = dir.path().join("2.jsonl");
    // Everything up to now: seq 4 (the first AUDIT_ARCHIVED event) to seq 7.
    let report = store
        .archive(Utc::now() + Duration::days(1), &second)
        .await
        .unwrap();
    assert_eq!((report.from_seq, report.to_seq), (4, 7));
    let alone = verify_archive(&second, &ChainHasher::sha256()).unwrap();
    assert!(alone.report.is_valid(), "{:?}", alone.report);
    assert_eq!(alone.header.anchor.seq, 3);
    let live = store.verify(VerifyScope::All, None).await.unwrap();
    assert!(live.is_valid(), "{live:?}");
    assert_eq!(
        live.checked, 1,
        "only the second AUDIT_ARCHIVED event is left"
    );
}

pub async fn check_nothing_older_than_the_cutoff_writes_no_file(store: impl Archiver) {
    archive_filled(&store, 0, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.jsonl");
    let report = store.archive(archive_cutoff(), &path).await.unwrap();
    assert_eq!(report.count, 0);
    assert!(!path.exists());
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

pub async fn check_a_broken_chain_is_not_archived_and_nothing_is_deleted(store: impl Archiver) {
    archive_filled(&store, 6, 1).await;
    store.forge_entity_id(3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    match store.archive(archive_cutoff(), &path).await.unwrap_err() {
        Error::Archive(ArchiveError::ChainBroken(fault)) => {
            assert_eq!((fault.seq, fault.kind), (3, FaultKind::Modified));
        }
        other => panic!("expected ChainBroken, got {other:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 7);
}

pub async fn check_an_existing_file_is_not_overwritten(store: impl Archiver) {
    archive_filled(&store, 2, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken.jsonl");
    std::fs::write(&path, "keep me").unwrap();
    let err = store.archive(archive_cutoff(), &path).await.unwrap_err();
    assert!(
        matches!(err, Error::Archive(ArchiveError::Exists(_))),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 2);
}

/// A report without the time its head was taken, which differs between two runs.
pub fn comparable(
    report: &VerifyReport,
) -> (
    u64,
    Option<(u64, ChainHash)>,
    Option<audit_core::chain::ChainFault>,
) {
    (
        report.checked,
        report.head.map(|h| (h.seq, h.hash)),
        report.fault.clone(),
    )
}

/// `verify` (a store's `verify_chain_with` of one scope) on one thread and on four with
/// chunks of 1 and 3 records (chunk boundaries everywhere in a short chain): the reports
/// must be the same; the one-thread report is returned.
pub async fn verify_every_way<F, Fut>(verify: &F) -> VerifyReport
where
    F: Fn(Parallelism) -> Fut,
    Fut: std::future::Future<Output = audit_sqlx::Result<VerifyReport>>,
{
    let sequential = verify(Parallelism::sequential()).await.expect("verify");
    for parallelism in [
        Parallelism::threads(4).chunk_size(1),
        Parallelism::threads(4).chunk_size(3),
    ] {
        let parallel = verify(parallelism).await.expect("verify");
        assert_eq!(
            comparable(&parallel),
            comparable(&sequential),
            "{parallelism:?}"
        );
    }
    sequential
}

/// How many events [`check_verify_across_fetched_batches`] needs in the store: more than two
/// fetches of rows (2000 each).
pub const ACROSS_BATCHES: usize = 4500;

/// Verification of a chain longer than one fetch gives the same report on every thread
/// count, intact and with faults in later fetches. `verify` is the store's
/// `verify_chain_with` of the whole chain; `tamper` runs SQL (with `{events}` for the events
/// table) behind the store's back.
pub async fn check_verify_across_fetched_batches<V, VFut, T, TFut>(verify: V, tamper: T)
where
    V: Fn(Parallelism) -> VFut,
    VFut: std::future::Future<Output = audit_sqlx::Result<VerifyReport>>,
    T: Fn(&'static str) -> TFut,
    TFut: std::future::Future<Output = ()>,
{
    use audit_core::chain::FaultKind;
    let fault = |report: VerifyReport| report.fault.map(|f| (f.seq, f.kind));
    let report = verify_every_way(&verify).await;
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, ACROSS_BATCHES as u64);
    // In the third fetch, after two full ones.
    tamper("UPDATE {events} SET description = 'forged' WHERE seq = 4100").await;
    let report = verify_every_way(&verify).await;
    assert_eq!(report.checked, 4099);
    assert_eq!(fault(report), Some((4100, FaultKind::Modified)));
    // A row that no longer decodes, first of the second fetch, comes before it.
    tamper("UPDATE {events} SET category = 'bogus' WHERE seq = 2001").await;
    let report = verify_every_way(&verify).await;
    assert_eq!(fault(report), Some((2001, FaultKind::Modified)));
}

//! Helpers shared by the integration tests: fresh stores on real files, varied events.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use audit_core::chain::{ChainHash, Checkpoint, Parallelism, VerifyReport};
use audit_core::store::VerifyScope;
use audit_core::{Actor, AuditEvent, Category, Outcome, Severity};
use audit_sqlite::SqliteStore;
use chrono::{DateTime, Duration, TimeZone, Utc};
use tempfile::TempDir;

/// A store on a new file in a new temporary directory (kept alive by the returned guard).
pub fn fresh_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(db_path(&dir)).expect("open store");
    (store, dir)
}

pub fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("audit.db")
}

/// A raw connection that bypasses the store, as an attacker or an operator would use.
pub fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("raw connection");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

/// The tree's stored rows by seq, read from `audit_tree_runs` with this test's own reading
/// of the layout: a run holds the rows of `first_seq..=last_seq` concatenated, the row of
/// `seq` being `1 + trailing_zeros(seq)` hashes of 32 bytes.
pub fn tree_rows(conn: &rusqlite::Connection) -> BTreeMap<u64, Vec<u8>> {
    let mut stmt = conn
        .prepare("SELECT first_seq, last_seq, hashes FROM audit_tree_runs ORDER BY first_seq")
        .expect("read the runs");
    let runs = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
        })
        .expect("read the runs");
    let mut rows = BTreeMap::new();
    for run in runs {
        let (first, last, bytes): (i64, i64, Vec<u8>) = run.expect("a run");
        let (first, last) = (first as u64, last as u64);
        let mut at = 0;
        for seq in first..=last {
            let len = 32 * (1 + seq.trailing_zeros() as usize);
            rows.insert(seq, bytes[at..at + len].to_vec());
            at += len;
        }
        assert_eq!(at, bytes.len(), "run {first}..={last} has bytes left over");
    }
    rows
}

/// Rewrites the tree behind the store's back (its append-only triggers already dropped):
/// `edit` changes the rows, which are stored back one run per row.
pub fn rewrite_tree(conn: &rusqlite::Connection, edit: impl FnOnce(&mut BTreeMap<u64, Vec<u8>>)) {
    let mut rows = tree_rows(conn);
    edit(&mut rows);
    conn.execute("DELETE FROM audit_tree_runs", [])
        .expect("clear the runs");
    insert_rows(
        conn,
        "INSERT INTO audit_tree_runs (first_seq, last_seq, hashes) VALUES (?1, ?1, ?2)",
        rows,
    );
}

/// Puts the tree back the way schemas 5 and 6 kept it, one `audit_tree` row per event (for
/// tests that make an older file out of a new one).
pub fn tree_as_schema_6(conn: &rusqlite::Connection) {
    let rows = tree_rows(conn);
    conn.execute_batch(
        "CREATE TABLE audit_tree (seq INTEGER PRIMARY KEY NOT NULL, hashes BLOB NOT NULL); \
         DROP TABLE audit_tree_runs;",
    )
    .expect("the schema 6 tree table");
    insert_rows(
        conn,
        "INSERT INTO audit_tree (seq, hashes) VALUES (?1, ?2)",
        rows,
    );
}

/// Runs `insert` with each row's seq as `?1` and its bytes as `?2`.
fn insert_rows(conn: &rusqlite::Connection, insert: &str, rows: BTreeMap<u64, Vec<u8>>) {
    for (seq, bytes) in rows {
        conn.execute(insert, rusqlite::params![seq as i64, bytes])
            .unwrap_or_else(|e| panic!("{insert} for seq {seq}: {e}"));
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub const ACTIONS: [&str; 6] = [
    "AUTHN_LOGIN_SUCCESS",
    "AUTHN_LOGIN_FAIL",
    "AUTHZ_DENIED",
    "FTMS_BOOKING_CREATED",
    "FTMS_BOOKING_CANCELLED",
    "FTMS_REFUND",
];
pub const ACTORS: [&str; 5] = ["alice", "bob", "carol", "svc-billing", ""];
pub const IPS: [&str; 7] = [
    "10.0.0.1",
    "10.0.7.200",
    "10.1.0.3",
    "192.168.1.20",
    "2001:db8::1",
    "2001:db8:1::5",
    "::ffff:10.0.0.9",
];

pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// The `i`-th of a varied, reproducible set of events (about 1 in 5 leaves fields empty).
pub fn varied_event(g: &mut Gen, i: u64) -> AuditEvent {
    let action = *g.pick(&ACTIONS);
    let mut b = AuditEvent::builder(action)
        .occurred_at(epoch() + Duration::minutes((i * 37 + g.next() % 30) as i64))
        .category(*g.pick(&[
            Category::Authentication,
            Category::Authorization,
            Category::Business,
        ]))
        .severity(*g.pick(&[Severity::Info, Severity::Warning]));
    if g.chance(80) {
        b = b.actor(Actor::user(*g.pick(&ACTORS)));
    }
    b = match g.next() % 3 {
        0 => b.outcome(Outcome::Success, None),
        1 => b.failure("bad password"),
        _ => b.denied("no role"),
    };
    if g.chance(70) {
        b = b.entity("booking", format!("b-{}", g.next() % 12));
    } else if g.chance(30) {
        b = b.entity_type("invoice");
    }
    if g.chance(85) {
        let ip: IpAddr = g.pick(&IPS).parse().expect("valid ip");
        b = b.ip(ip);
    }
    if g.chance(60) {
        b = b.request_id(format!("req-{}", g.next() % 20));
    }
    if g.chance(50) {
        b = b.tenant(*g.pick(&["acme", "globex"]));
    }
    if g.chance(75) {
        b = b.description(format!(
            "{} seats for {}",
            g.next() % 5,
            g.pick(&["Paris", "Oslo", "paris"])
        ));
    }
    b.metadata_entry("n", i).build()
}

pub fn varied_events(seed: u64, n: u64) -> Vec<AuditEvent> {
    let mut g = Gen::new(seed);
    (0..n).map(|i| varied_event(&mut g, i)).collect()
}

/// Simple events for the chain tests.
pub fn events(n: usize, action: &str) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            AuditEvent::builder(action.to_owned())
                .actor(Actor::user(format!("user-{}", i % 3)))
                .entity("booking", format!("b-{i}"))
                .build()
        })
        .collect()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
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

/// `store`'s verification of `scope` on one thread, on four with chunks of 1 and 3 records
/// (chunk boundaries everywhere in a short chain), on two with chunks of 8, and with the
/// store's default: the reports must be the same; the one-thread report is returned.
pub async fn verify_every_way(
    store: &SqliteStore,
    scope: VerifyScope,
    checkpoint: Option<&Checkpoint>,
) -> VerifyReport {
    let verify =
        |parallelism: Parallelism| store.verify_chain_with(scope, checkpoint.copied(), parallelism);
    let sequential = verify(Parallelism::sequential()).await.expect("verify");
    // Chunks of 1 on 4 threads and of 8 on 2 read chains from 17 and 65 rows on in stripes,
    // one connection per thread; chunks of 3 on 4 threads read shorter ones on one.
    for parallelism in [
        Parallelism::threads(4).chunk_size(1),
        Parallelism::threads(4).chunk_size(3),
        Parallelism::threads(2).chunk_size(8),
    ] {
        let parallel = verify(parallelism).await.expect("verify");
        assert_eq!(
            comparable(&parallel),
            comparable(&sequential),
            "{parallelism:?}"
        );
    }
    let default = store
        .verify_chain(scope, checkpoint.copied())
        .await
        .expect("verify");
    assert_eq!(comparable(&default), comparable(&sequential), "the default");
    sequential
}

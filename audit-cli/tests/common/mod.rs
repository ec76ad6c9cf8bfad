//! Helpers for running the real `audit` binary against real stores.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use audit_core::query::{AuditQuery, Order};
use audit_core::{Actor, AuditEvent, AuditStore, Category, ChainHasher, StoredEvent};
use audit_sqlite::{SqliteOptions, SqliteStore};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// The `audit` binary with no store, key or colour settings inherited from the environment.
pub fn audit() -> Command {
    let mut cmd = Command::cargo_bin("audit").expect("the audit binary is built");
    for var in ["AUDIT_DATABASE_URL", "AUDIT_KEY_FILE", "AUDIT_HMAC_KEY"] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

/// Stdout parsed as one JSON value.
pub fn json<T: serde::de::DeserializeOwned>(out: &Output) -> T {
    let text = stdout(out);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The parsed JSON lines of stdout.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap()
}

/// Event `i`: an hour apart, four actors, every filterable field varied.
pub fn event(i: u64) -> AuditEvent {
    let actor = ["alice", "bob", "carol", "dave"][(i % 4) as usize];
    let mut b = match i % 6 {
        0 => AuditEvent::builder("AUTHN_LOGIN_FAIL")
            .category(Category::Authentication)
            .failure("invalid user name or password"),
        1 => AuditEvent::builder("AUTHZ_FAIL")
            .category(Category::Authorization)
            .denied("missing booking:delete"),
        _ => AuditEvent::builder("FTMS_BOOKING_CREATED").entity("booking", format!("b-{}", i % 9)),
    };
    b = b
        .occurred_at(epoch() + Duration::hours(i as i64))
        .actor(Actor::user(actor))
        .ip(format!("10.{}.0.{}", i % 3, i % 200 + 1).parse().unwrap())
        .request_id(format!("r-{}", i % 5))
        .tenant(["acme", "globex"][(i % 2) as usize])
        .description(format!("event {i} by {actor}"));
    b.build()
}

/// A SQLite store at `dir/audit.db` with `n` events of [`event`].
pub async fn sqlite_with(dir: &Path, n: u64, hasher: ChainHasher) -> (SqliteStore, PathBuf) {
    let path = dir.join("audit.db");
    let store = SqliteStore::open_with(SqliteOptions::new(&path).hasher(hasher)).unwrap();
    let events: Vec<AuditEvent> = (0..n).map(event).collect();
    for chunk in events.chunks(10_000) {
        store.append(chunk).await.unwrap();
    }
    (store, path)
}

/// The `--db` URL of a SQLite file.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// Every stored record matching `query`, oldest first, read through the library.
pub async fn all(store: &dyn AuditStore, query: AuditQuery) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut q = query.order(Order::OldestFirst).limit(1000);
    loop {
        let page = store.query(&q).await.unwrap();
        out.extend(page.events);
        match page.next {
            Some(c) => q = q.after(c),
            None => return out,
        }
    }
}

/// A raw SQL statement on the file behind the store's back (triggers dropped first).
pub fn sqlite_tamper(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS audit_events_no_update;
         DROP TRIGGER IF EXISTS audit_events_no_delete;
         {sql}"
    ))
    .unwrap();
}

/// The seqs of JSON lines.
pub fn seqs(lines: &[serde_json::Value]) -> Vec<u64> {
    lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect()
}

/// With the right HMAC key `verify` passes; with a wrong one it fails with one line naming
/// the wrong key. `store` gives the binary with `--db` (and `--schema`) of a store whose
/// chain is keyed with "right".
pub fn assert_a_wrong_key_is_one_line(store: impl Fn() -> Command) {
    let right = store()
        .env("AUDIT_HMAC_KEY", "right")
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(right.status.code(), Some(0), "{}", stderr(&right));
    let wrong = store()
        .env("AUDIT_HMAC_KEY", "wrong")
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3));
    let err = stderr(&wrong);
    assert!(err.contains("wrong key"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A server nothing answers at `url` (with password `secret`) is one line, without the
/// password.
pub fn assert_an_unreachable_server_is_one_line(url: &str) {
    let out = audit().args(["--db", url, "query"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("cannot open") && !err.contains("secret"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `checkpoint`, `archive`, `verify-archive` and `verify` on a store of 30 [`event`]s, one a
/// minute from [`epoch`]: the first 10 go to an archive that verifies alone, 20 stay with the
/// `AUDIT_ARCHIVED` event, and the live chain verifies. `store` gives the binary with `--db`.
pub async fn assert_checkpoint_and_archive_work(
    store: impl Fn() -> Command,
    records: &dyn AuditStore,
) {
    let cp = store().arg("checkpoint").output().unwrap();
    assert_eq!(json::<serde_json::Value>(&cp)["seq"], 30, "{}", stderr(&cp));
    let dir = tempfile::tempdir().unwrap();
    let before = (epoch() + Duration::hours(10)).to_rfc3339();
    let out = store()
        .args(["archive", "--json", "--before", &before, "--to"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = json(&out);
    assert_eq!(
        (report["from_seq"].as_u64(), report["to_seq"].as_u64()),
        (Some(1), Some(10))
    );
    let file = report["path"].as_str().unwrap().to_owned();
    let checked = audit().args(["verify-archive", &file]).output().unwrap();
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
    assert_eq!(
        records.count(&AuditQuery::new()).await.unwrap(),
        21,
        "20 left and AUDIT_ARCHIVED"
    );
    let live = store().arg("verify").output().unwrap();
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
}

//! The real `audit` binary against the test PostgreSQL (`DATABASE_URL`, from
//! `scripts/pg.sh`): every command that reads or archives, exit codes, a tampered row, and a
//! wrong key. Fails when `CI` is set and no server is given; skips loudly otherwise.

use crate::common::*;
use audit_core::query::AuditQuery;
use audit_core::{AuditEvent, ChainHasher};
use audit_sqlx::{PgOptions, PgStore};

pub(crate) fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "DATABASE_URL is not set and CI is: run the tests through scripts/test.sh"
            );
            eprintln!("!!!!! SKIPPED: DATABASE_URL is not set; this PostgreSQL test did not run");
            None
        }
    }
}

/// A schema name unique to this run.
pub(crate) fn schema(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cli_{tag}_{}_{nanos:x}", std::process::id())
}

/// A fresh schema (migrated by an owner connection) holding `n` events of [`event`].
async fn filled(url: &str, tag: &str, n: u64, hasher: ChainHasher) -> (PgStore, String) {
    let schema = schema(tag);
    let store = PgStore::connect_with(PgOptions::new(url).schema(&schema).unwrap().hasher(hasher))
        .await
        .unwrap();
    let events: Vec<AuditEvent> = (0..n).map(event).collect();
    for chunk in events.chunks(1000) {
        store.append(chunk).await.unwrap();
    }
    (store, schema)
}

pub(crate) fn pg(url: &str, schema: &str) -> assert_cmd::Command {
    let mut cmd = audit();
    cmd.args(["--db", url, "--schema", schema]);
    cmd
}

/// Runs `sql` (with `EVENTS`, `TREE` and `HEAD` naming the events, tree and chain head
/// tables) with the append-only triggers off, as an attacker with the tables' owner's rights
/// could.
pub(crate) async fn tamper(url: &str, schema: &str, sql: &str) {
    use sqlx_core::connection::Connection;
    use sqlx_core::executor::Executor;
    let [events, tree, head] =
        ["events", "tree", "chain_head"].map(|t| format!("{schema}.audit_{t}"));
    let sql = sql
        .replace("EVENTS", &events)
        .replace("TREE", &tree)
        .replace("HEAD", &head);
    let script = format!(
        "BEGIN; ALTER TABLE {events} DISABLE TRIGGER USER; ALTER TABLE {tree} DISABLE TRIGGER USER;
         {sql};
         ALTER TABLE {events} ENABLE TRIGGER USER; ALTER TABLE {tree} ENABLE TRIGGER USER; COMMIT;"
    );
    let mut conn = audit_sqlx::sqlx_postgres::PgConnection::connect(url)
        .await
        .unwrap();
    conn.execute(sqlx_core::raw_sql::raw_sql(
        sqlx_core::sql_str::AssertSqlSafe(script),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn query_stats_and_export_read_the_postgres_store() {
    let Some(url) = database_url() else { return };
    let (store, schema) = filled(&url, "read", 80, ChainHasher::sha256()).await;
    let out = pg(&url, &schema)
        .args(["query", "--json", "--actor", "bob", "-n", "100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let bob: Vec<u64> = all(&store, AuditQuery::new().actor("bob"))
        .await
        .iter()
        .rev()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs(&json_lines(&out)), bob);

    let stats = pg(&url, &schema)
        .args(["stats", "--json", "--by", "outcome"])
        .output()
        .unwrap();
    let stats: serde_json::Value = json(&stats);
    assert_eq!(stats["total"], 80);

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("pg.csv");
    let export = pg(&url, &schema)
        .args(["export", "--format", "csv", "--out"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(csv::Reader::from_path(&csv).unwrap().records().count(), 80);

    let pdf = dir.path().join("pg.pdf");
    let report = pg(&url, &schema)
        .args(["export", "--format", "pdf", "--out"])
        .arg(&pdf)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
}

#[tokio::test]
async fn verify_exits_one_on_a_tampered_row_and_zero_on_an_intact_chain() {
    let Some(url) = database_url() else { return };
    let (_store, schema) = filled(&url, "verify", 40, ChainHasher::sha256()).await;
    let ok = pg(&url, &schema)
        .args(["verify", "--json"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    tamper(
        &url,
        &schema,
        "UPDATE EVENTS SET description = 'rewritten' WHERE seq = 23",
    )
    .await;
    let bad = pg(&url, &schema)
        .args(["verify", "--json"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let report: serde_json::Value = json(&bad);
    assert_eq!(report["fault"]["seq"], 23);
    assert_eq!(report["fault"]["kind"], "modified");
    assert!(stderr(&bad).contains("chain fault at seq 23: modified"));
}

#[tokio::test]
async fn checkpoint_archive_and_verify_archive_work_on_postgres() {
    let Some(url) = database_url() else { return };
    let (store, schema) = filled(&url, "archive", 30, ChainHasher::sha256()).await;
    assert_checkpoint_and_archive_work(|| pg(&url, &schema), &store).await;
}

#[tokio::test]
async fn a_wrong_key_is_a_one_line_error() {
    let Some(url) = database_url() else { return };
    let (_store, schema) = filled(&url, "key", 10, ChainHasher::hmac_sha256(b"right")).await;
    assert_a_wrong_key_is_one_line(|| pg(&url, &schema));
}

#[test]
fn an_unreachable_server_is_a_one_line_error() {
    // A port nothing listens on (connect refused at once).
    assert_an_unreachable_server_is_one_line("postgres://nobody:secret@127.0.0.1:1/none");
}

//! The real `audit` binary against the test MariaDB (`MYSQL_URL`, from
//! `scripts/mariadb.sh`): reading, exporting, verifying a tampered row, archiving, a wrong
//! key and an unreachable server. Each test works in a database of its own, named in the URL
//! it gives `--db`. Fails when `CI` is set and no server is given; skips loudly otherwise.

use crate::common::*;
use audit_core::query::AuditQuery;
use audit_core::{AuditEvent, ChainHasher};
use audit_sqlx::{MySqlOptions, MySqlStore};
use sqlx_core::connection::Connection;
use sqlx_core::executor::Executor;
use sqlx_core::row::Row;

pub(crate) fn mysql_url() -> Option<String> {
    match std::env::var("MYSQL_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "MYSQL_URL is not set and CI is: run the tests through scripts/test.sh"
            );
            eprintln!("!!!!! SKIPPED: MYSQL_URL is not set; this MySQL test did not run");
            None
        }
    }
}

/// The server's URL with its database replaced by `database`.
pub(crate) fn url_for(url: &str, database: &str) -> String {
    let (server, _) = url.rsplit_once('/').unwrap();
    format!("{server}/{database}")
}

/// A database name unique to this run.
pub(crate) fn database(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cli_{tag}_{}_{nanos:x}", std::process::id())
}

/// A fresh database (migrated by the test user, the owner) holding `n` events of [`event`];
/// returns the store and the URL naming its database.
async fn filled(url: &str, tag: &str, n: u64, hasher: ChainHasher) -> (MySqlStore, String) {
    let database = database(tag);
    let store = MySqlStore::connect_with(
        MySqlOptions::new(url)
            .database(&database)
            .unwrap()
            .hasher(hasher),
    )
    .await
    .unwrap();
    let events: Vec<AuditEvent> = (0..n).map(event).collect();
    for chunk in events.chunks(1000) {
        store.append(chunk).await.unwrap();
    }
    (store, url_for(url, &database))
}

pub(crate) fn mysql(db_url: &str) -> assert_cmd::Command {
    let mut cmd = audit();
    cmd.args(["--db", db_url]);
    cmd
}

/// Runs `sql` (with `EVENTS`, `TREE` and `HEAD` naming the events, tree and chain head
/// tables) after dropping the append-only triggers of the store's tables, as an attacker
/// with the owner's rights could.
pub(crate) async fn tamper(db_url: &str, sql: &str) {
    let mut conn = audit_sqlx::sqlx_mysql::MySqlConnection::connect(db_url)
        .await
        .unwrap();
    let triggers = conn
        .fetch_all(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE LIKE 'audit\\_%'",
        )
        .await
        .unwrap();
    for row in triggers {
        let name: String = row.try_get(0).unwrap();
        conn.execute(sqlx_core::raw_sql::raw_sql(
            sqlx_core::sql_str::AssertSqlSafe(format!("DROP TRIGGER `{name}`")),
        ))
        .await
        .unwrap();
    }
    let sql = sql
        .replace("EVENTS", "audit_events")
        .replace("TREE", "audit_tree")
        .replace("HEAD", "audit_chain_head");
    conn.execute(sqlx_core::raw_sql::raw_sql(
        sqlx_core::sql_str::AssertSqlSafe(sql),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn query_stats_and_export_read_the_mysql_store() {
    let Some(url) = mysql_url() else { return };
    let (store, db) = filled(&url, "read", 80, ChainHasher::sha256()).await;
    let out = mysql(&db)
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

    let stats = mysql(&db)
        .args(["stats", "--json", "--by", "outcome"])
        .output()
        .unwrap();
    assert_eq!(json::<serde_json::Value>(&stats)["total"], 80);

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("my.csv");
    let export = mysql(&db)
        .args(["export", "--format", "csv", "--out"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(csv::Reader::from_path(&csv).unwrap().records().count(), 80);
    // mariadb:// names the same server.
    let as_mariadb = db.replacen("mysql://", "mariadb://", 1);
    let count = mysql(&as_mariadb)
        .args(["stats", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        json::<serde_json::Value>(&count)["total"],
        80,
        "{}",
        stderr(&count)
    );
}

#[tokio::test]
async fn verify_exits_one_on_a_tampered_row_and_zero_on_an_intact_chain() {
    let Some(url) = mysql_url() else { return };
    let (_store, db) = filled(&url, "verify", 40, ChainHasher::sha256()).await;
    let ok = mysql(&db).args(["verify", "--json"]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    tamper(
        &db,
        "UPDATE EVENTS SET description = 'rewritten' WHERE seq = 23",
    )
    .await;
    let bad = mysql(&db).args(["verify", "--json"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let report: serde_json::Value = json(&bad);
    assert_eq!(report["fault"]["seq"], 23);
    assert_eq!(report["fault"]["kind"], "modified");
}

#[tokio::test]
async fn checkpoint_archive_and_verify_archive_work_on_mysql() {
    let Some(url) = mysql_url() else { return };
    let (store, db) = filled(&url, "archive", 30, ChainHasher::sha256()).await;
    assert_checkpoint_and_archive_work(|| mysql(&db), &store).await;
}

#[tokio::test]
async fn a_wrong_key_is_a_one_line_error() {
    let Some(url) = mysql_url() else { return };
    let (_store, db) = filled(&url, "key", 10, ChainHasher::hmac_sha256(b"right")).await;
    assert_a_wrong_key_is_one_line(|| mysql(&db));
}

#[test]
fn an_unreachable_mysql_server_is_a_one_line_error() {
    // A port nothing listens on (connect refused at once).
    assert_an_unreachable_server_is_one_line("mysql://nobody:secret@127.0.0.1:1/none");
}

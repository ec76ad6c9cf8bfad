//! Support for the cross-crate integration tests in `tests/`: where the test servers are,
//! and fresh stores on them; checks every store must pass behind the pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

/// A server's URL from environment variable `var`, or `None` (with a loud message) when the
/// `server` part of a test must be skipped. With `CI` set, a missing URL fails instead.
pub fn server_url(var: &str, server: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set and CI is: run the tests through `bash scripts/test.sh`")
        }
        _ => {
            eprintln!(
                "!!!!! SKIPPED a {server} part: {var} is not set (use `bash scripts/test.sh`)"
            );
            None
        }
    }
}

/// The PostgreSQL URL from `DATABASE_URL` (see [`server_url`]).
pub fn database_url() -> Option<String> {
    server_url("DATABASE_URL", "PostgreSQL")
}

/// The MySQL/MariaDB URL from `MYSQL_URL` (see [`server_url`]).
pub fn mysql_url() -> Option<String> {
    server_url("MYSQL_URL", "MySQL")
}

/// A schema name unique to this process and call.
pub fn unique_schema(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("x{tag}_{}_{n}_{micros:x}", std::process::id())
}

/// A PostgreSQL store on a fresh schema.
pub async fn fresh_pg(
    url: &str,
    tag: &str,
    hasher: audit_core::ChainHasher,
) -> audit_sqlx::PgStore {
    let options = audit_sqlx::PgOptions::new(url)
        .schema(&unique_schema(tag))
        .expect("valid schema name")
        .hasher(hasher);
    audit_sqlx::PgStore::connect_with(options)
        .await
        .expect("connect to PostgreSQL")
}

/// A MySQL store in a fresh database.
pub async fn fresh_mysql(
    url: &str,
    tag: &str,
    hasher: audit_core::ChainHasher,
) -> audit_sqlx::MySqlStore {
    let options = audit_sqlx::MySqlOptions::new(url)
        .database(&unique_schema(tag))
        .expect("valid database name")
        .hasher(hasher);
    audit_sqlx::MySqlStore::connect_with(options)
        .await
        .expect("connect to MySQL")
}

/// A SQLite store in a fresh temporary directory (kept alive by the returned guard).
pub fn fresh_sqlite() -> (audit_sqlite::SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = audit_sqlite::SqliteStore::open(dir.path().join("audit.db")).expect("open");
    (store, dir)
}

/// Runs `sql(events table)` on `store`'s schema with the table's append-only triggers off,
/// as the table's owner could (an attacker with the owner's rights, in tamper tests).
pub async fn tamper_pg(store: &audit_sqlx::PgStore, sql: impl FnOnce(&str) -> String) {
    use sqlx_core::executor::Executor;
    let events = format!("{}.audit_events", store.schema());
    let statement = sql(&events);
    store
        .pool()
        .execute(sqlx_core::raw_sql::raw_sql(
            sqlx_core::sql_str::AssertSqlSafe(format!(
                "ALTER TABLE {events} DISABLE TRIGGER USER; {statement};
                 ALTER TABLE {events} ENABLE TRIGGER USER;"
            )),
        ))
        .await
        .expect("tampering with the events table");
}

/// Runs `sql(events table)` on `store`'s own database (a fresh one, see [`fresh_mysql`])
/// of the server at `url`, with the table's triggers dropped for good: MariaDB cannot
/// switch a trigger off, and a test's database is thrown away.
pub async fn tamper_mysql(
    url: &str,
    store: &audit_sqlx::MySqlStore,
    sql: impl FnOnce(&str) -> String,
) {
    use sqlx_core::connection::Connection;
    use sqlx_core::executor::Executor;
    use sqlx_core::row::Row;
    let raw = |text: String| sqlx_core::raw_sql::raw_sql(sqlx_core::sql_str::AssertSqlSafe(text));
    let db = store.database().expect("a test store has its own database");
    let table = format!("{}events", store.table_prefix());
    let mut conn = audit_sqlx::sqlx_mysql::MySqlConnection::connect(url)
        .await
        .expect("connect to MySQL");
    let triggers = conn
        .fetch_all(raw(format!(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = '{db}' AND EVENT_OBJECT_TABLE = '{table}'"
        )))
        .await
        .expect("list the triggers");
    for trigger in triggers {
        let name: String = trigger.try_get(0).expect("a trigger name");
        conn.execute(raw(format!("DROP TRIGGER `{db}`.`{name}`")))
            .await
            .expect("drop a trigger");
    }
    conn.execute(raw(sql(&format!("`{db}`.`{table}`"))))
        .await
        .expect("tampering with the events table");
}

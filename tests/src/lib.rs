//! Support for the cross-crate integration tests in `tests/`: where the test servers are,
//! and fresh stores on them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

/// The PostgreSQL URL from `DATABASE_URL`, or `None` (with a loud message) when the
/// PostgreSQL part of a test must be skipped. With `CI` set, a missing URL fails instead.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "DATABASE_URL is not set and CI is: run the tests through `bash scripts/test.sh`"
            )
        }
        _ => {
            eprintln!(
                "!!!!! SKIPPED a PostgreSQL part: DATABASE_URL is not set (use `bash scripts/test.sh`)"
            );
            None
        }
    }
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

/// A SQLite store in a fresh temporary directory (kept alive by the returned guard).
pub fn fresh_sqlite() -> (audit_sqlite::SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = audit_sqlite::SqliteStore::open(dir.path().join("audit.db")).expect("open");
    (store, dir)
}

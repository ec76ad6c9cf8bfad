//! Helpers shared by the integration tests: a fresh schema per test on the real server.
#![allow(dead_code)]

use audit_sqlx::{PgOptions, PgStore};

#[path = "../support/mod.rs"]
mod support;
pub use support::*;

/// The server URL, or `None` (with a loud message) when tests should skip.
/// With `CI` set, a missing `DATABASE_URL` fails the test instead.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "DATABASE_URL is not set and CI is: PostgreSQL tests must run in CI \
                     (use `scripts/pg.sh run -- cargo test -p audit-sqlx`)"
                );
            }
            eprintln!(
                "\n!!!!! SKIPPED: DATABASE_URL is not set, so this PostgreSQL test did not run.\n\
                 !!!!! Run `scripts/pg.sh run -- cargo test -p audit-sqlx` to test for real.\n"
            );
            None
        }
    }
}

/// Returns early from the test when there is no server (see [`database_url`]).
#[macro_export]
macro_rules! require_pg {
    () => {
        match $crate::common::database_url() {
            Some(url) => url,
            None => return,
        }
    };
}

/// A schema name unique to this test run.
pub fn unique_schema(tag: &str) -> String {
    unique_name(tag)
}

/// Options for a fresh schema.
pub fn options(url: &str, tag: &str) -> PgOptions {
    PgOptions::new(url)
        .schema(&unique_schema(tag))
        .expect("test schema names are valid")
}

/// A store on a fresh schema.
pub async fn fresh_store(url: &str, tag: &str) -> PgStore {
    PgStore::connect_with(options(url, tag))
        .await
        .expect("connect to the test server")
}

/// Runs SQL as the connecting (superuser) role, outside the library.
pub async fn exec(url: &str, sql: &str) -> Result<u64, sqlx_core::Error> {
    use sqlx_core::connection::Connection;
    use sqlx_core::executor::Executor;
    let mut conn = sqlx_postgres::PgConnection::connect(url).await?;
    let done = conn
        .execute(sqlx_core::raw_sql::raw_sql(
            sqlx_core::sql_str::AssertSqlSafe(sql.to_string()),
        ))
        .await?;
    Ok(done.rows_affected())
}

/// Runs `sql(events table)` with the store's append-only triggers off, as an attacker with
/// the table owner's rights could.
pub async fn tamper(url: &str, store: &audit_sqlx::PgStore, sql: impl FnOnce(&str) -> String) {
    let events = format!("{}.audit_events", store.schema());
    untriggered(url, store, &sql(&events)).await;
}

/// Runs `sql` with the user triggers of the store's events, tree and checkpoints tables
/// disabled (and enabled again), in one transaction, as the tables' owner can.
async fn untriggered(url: &str, store: &PgStore, sql: &str) {
    let toggle = |how: &str| -> String {
        ["events", "tree", "checkpoints"]
            .iter()
            .map(|t| {
                format!(
                    "ALTER TABLE {}.audit_{t} {how} TRIGGER USER;",
                    store.schema()
                )
            })
            .collect()
    };
    exec(
        url,
        &format!(
            "BEGIN; {} {sql}; {} COMMIT;",
            toggle("DISABLE"),
            toggle("ENABLE")
        ),
    )
    .await
    .expect("tampering as the owner");
}

#[async_trait::async_trait]
impl tlog::Owner for PgStore {
    fn table(&self, suffix: &str) -> String {
        format!("{}.audit_{suffix}", self.schema())
    }

    fn head_tables(&self) -> &'static [&'static str] {
        // The chain head row also holds the tree's frontier and the newest checkpoint's size.
        &["chain_head"]
    }

    fn id_literal(&self, id: uuid::Uuid) -> String {
        format!("'{id}'")
    }

    async fn as_owner(&self, sql: &str) {
        let url = database_url().expect("a server for this store");
        untriggered(&url, self, sql).await;
    }

    async fn another(&self, tag: &str, policy: audit_core::tlog::CheckpointPolicy) -> Self {
        let url = database_url().expect("a server for this store");
        PgStore::connect_with(options(&url, tag).checkpoints(policy))
            .await
            .expect("connect to the test server")
    }
}

#[async_trait::async_trait]
impl Purge for PgStore {
    async fn purge(&self, cutoff: chrono::DateTime<chrono::Utc>) -> audit_sqlx::PurgeReport {
        self.purge_before(cutoff).await.expect("purge")
    }

    async fn anchor(&self) -> Option<audit_core::chain::ChainAnchor> {
        self.retention_anchor().await.expect("anchor")
    }
}

#[async_trait::async_trait]
impl Reopen for PgStore {
    async fn reopen_with(&self, hasher: audit_core::ChainHasher) -> Self {
        let url = database_url().expect("a server for this store");
        let options = PgOptions::new(url)
            .schema(self.schema().as_str())
            .expect("a valid name")
            .hasher(hasher);
        PgStore::connect_with(options).await.expect("reopen")
    }
}

#[async_trait::async_trait]
impl Archiver for PgStore {
    async fn archive(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        path: impl Into<std::path::PathBuf> + Send,
    ) -> Result<audit_core::archive::ArchiveReport, audit_sqlx::Error> {
        PgStore::archive(self, before, path).await
    }

    fn source(&self) -> &'static str {
        "postgres"
    }

    async fn forge_entity_id(&self, seq: u64) {
        let url = database_url().expect("a server for this store");
        tamper(&url, self, |events| {
            format!("UPDATE {events} SET entity_id = 'forged' WHERE seq = {seq}")
        })
        .await;
    }
}

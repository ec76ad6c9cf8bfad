//! The server, a fresh database per test, and SQL run outside the library.
#![allow(dead_code)]

use audit_sqlx::{MySqlOptions, MySqlStore};
use sqlx_core::connection::Connection;
use sqlx_core::executor::Executor;
use sqlx_core::query::query;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::{MySql, MySqlConnection};

pub use crate::support::*;

/// The server URL, or `None` (with a loud message) when tests should skip.
/// With `CI` set, a missing `MYSQL_URL` fails the test instead.
pub fn mysql_url() -> Option<String> {
    match std::env::var("MYSQL_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "MYSQL_URL is not set and CI is: MySQL tests must run in CI \
                     (use `bash scripts/test.sh`, or `scripts/mariadb.sh run -- cargo test ...`)"
                );
            }
            eprintln!(
                "\n!!!!! SKIPPED: MYSQL_URL is not set, so this MySQL test did not run.\n\
                 !!!!! Run `bash scripts/test.sh` (or `scripts/mariadb.sh run -- cargo test \
                 -p audit-sqlx --features mysql`) to test for real.\n"
            );
            None
        }
    }
}

/// Returns early from the test when there is no server (see [`mysql_url`]).
macro_rules! require_mysql {
    () => {
        match $crate::common::mysql_url() {
            Some(url) => url,
            None => return,
        }
    };
}
pub(crate) use require_mysql;

/// Options for a fresh database.
pub fn options(url: &str, tag: &str) -> MySqlOptions {
    MySqlOptions::new(url)
        .database(&unique_name(tag))
        .expect("test database names are valid")
}

/// A store in a fresh database.
pub async fn fresh_store(url: &str, tag: &str) -> MySqlStore {
    MySqlStore::connect_with(options(url, tag))
        .await
        .expect("connect to the test server")
}

/// A store in a fresh database holding `events(0..n)`.
pub async fn store_with(url: &str, tag: &str, n: usize) -> MySqlStore {
    let store = fresh_store(url, tag).await;
    store.append(&events(0..n)).await.expect("test setup");
    store
}

/// A store's table, qualified: `` `db`.`audit_<suffix>` ``.
pub fn table(store: &MySqlStore, suffix: &str) -> String {
    format!(
        "`{}`.`{}{suffix}`",
        store
            .database()
            .expect("test stores have their own database"),
        store.table_prefix()
    )
}

/// A connection as the test server's (all-privileged) user.
pub async fn connect(url: &str) -> MySqlConnection {
    MySqlConnection::connect(url)
        .await
        .expect("connect to the test server")
}

/// Runs SQL (several statements allowed) as the connecting user, outside the library.
pub async fn exec(url: &str, sql: &str) -> Result<u64, sqlx_core::Error> {
    let mut conn = MySqlConnection::connect(url).await?;
    let done = conn
        .execute(raw_sql(AssertSqlSafe(sql.to_string())))
        .await?;
    Ok(done.rows_affected())
}

/// Runs `sql(events table)` with the append-only triggers dropped (and put back after), in
/// one session, as an attacker with the owner's rights could: MySQL cannot disable triggers.
/// (Every trigger of the store's tables: the events', the tree's and the checkpoints'.)
pub async fn tamper(url: &str, store: &MySqlStore, sql: impl FnOnce(&str) -> String) {
    untriggered(url, store, &sql(&table(store, "events")))
        .await
        .expect("tampering with the events table");
}

/// [`tamper`]'s mechanism: drop the triggers of the store's tables, run `sql` with foreign key
/// checks off (which the truncate guards rely on), recreate the triggers.
pub async fn untriggered(url: &str, store: &MySqlStore, sql: &str) -> Result<(), sqlx_core::Error> {
    let db = store.database().expect("own database").to_string();
    let mut conn = MySqlConnection::connect(url).await?;
    let prefix = store.table_prefix();
    let names: Vec<String> = query::<MySql>(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = ? AND LEFT(EVENT_OBJECT_TABLE, CHAR_LENGTH(?)) = ?",
    )
    .bind(&db)
    .bind(prefix)
    .bind(prefix)
    .fetch_all(&mut conn)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>(0))
    .collect::<Result<_, _>>()?;
    let mut creates = Vec::new();
    for name in &names {
        let row = query::<MySql>(AssertSqlSafe(format!(
            "SHOW CREATE TRIGGER `{db}`.`{name}`"
        )))
        .fetch_one(&mut conn)
        .await?;
        creates.push(row.try_get::<String, _>(2)?);
        conn.execute(raw_sql(AssertSqlSafe(format!(
            "DROP TRIGGER `{db}`.`{name}`"
        ))))
        .await?;
    }
    // Around the truncate guards too, for this session only.
    let result = conn
        .execute(raw_sql(AssertSqlSafe(format!(
            "USE `{db}`; SET foreign_key_checks = 0; {}; SET foreign_key_checks = 1",
            // MariaDB refuses an empty statement.
            sql.trim_end().trim_end_matches(';')
        ))))
        .await;
    for create in creates {
        conn.execute(raw_sql(AssertSqlSafe(format!("USE `{db}`; {create}"))))
            .await?;
    }
    result.map(|_| ())
}

/// A login for `user` on the same server as `url`, without a default database.
pub fn url_as(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
    let host = rest.split_once('@').map(|(_, host)| host).unwrap_or(rest);
    // No default database: the user has rights on the store's tables only.
    let host = host.split('/').next().unwrap_or(host);
    format!("{scheme}://{user}:{password}@{host}")
}

#[async_trait::async_trait]
impl Purge for MySqlStore {
    async fn purge(&self, cutoff: chrono::DateTime<chrono::Utc>) -> audit_sqlx::PurgeReport {
        self.purge_before(cutoff).await.expect("purge")
    }

    async fn anchor(&self) -> Option<audit_core::chain::ChainAnchor> {
        self.retention_anchor().await.expect("anchor")
    }
}

#[async_trait::async_trait]
impl Reopen for MySqlStore {
    async fn reopen_with(&self, hasher: audit_core::ChainHasher) -> Self {
        let url = mysql_url().expect("a server for this store");
        let options = MySqlOptions::new(url)
            .database(
                self.database()
                    .expect("test stores have their own database"),
            )
            .expect("a valid name")
            .hasher(hasher);
        MySqlStore::connect_with(options).await.expect("reopen")
    }
}

#[async_trait::async_trait]
impl Archiver for MySqlStore {
    async fn archive(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        path: impl Into<std::path::PathBuf> + Send,
    ) -> Result<audit_core::archive::ArchiveReport, audit_sqlx::Error> {
        MySqlStore::archive(self, before, path).await
    }

    fn source(&self) -> &'static str {
        "mysql"
    }

    async fn forge_entity_id(&self, seq: u64) {
        let url = mysql_url().expect("a server for this store");
        tamper(&url, self, |events| {
            format!("UPDATE {events} SET entity_id = 'forged' WHERE seq = {seq}")
        })
        .await;
    }
}

#[async_trait::async_trait]
impl tlog::Owner for MySqlStore {
    fn table(&self, suffix: &str) -> String {
        table(self, suffix)
    }

    fn head_tables(&self) -> &'static [&'static str] {
        &["chain_head", "tree_head"]
    }

    fn id_literal(&self, id: uuid::Uuid) -> String {
        format!("x'{}'", id.simple())
    }

    async fn as_owner(&self, sql: &str) {
        let url = mysql_url().expect("a server for this store");
        untriggered(&url, self, sql)
            .await
            .expect("tampering as the owner");
    }

    async fn another(&self, tag: &str, policy: audit_core::tlog::CheckpointPolicy) -> Self {
        let url = mysql_url().expect("a server for this store");
        MySqlStore::connect_with(options(&url, tag).checkpoints(policy))
            .await
            .expect("connect to the test server")
    }
}

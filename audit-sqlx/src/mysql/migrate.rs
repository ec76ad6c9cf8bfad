//! Embedded, versioned migrations, serialised across processes by a named lock.
//!
//! MySQL commits DDL implicitly, so migrations cannot run in one transaction as they do on
//! PostgreSQL: the runner takes `GET_LOCK` on a detached connection (several processes
//! starting at once migrate exactly once), applies each statement (every one can run again
//! after a failure half-way), and records the version last, with its SQL's SHA-256.

use sqlx_core::executor::Executor;
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::{MySql, MySqlConnection};

use super::db::{Db, close_detached};
use super::names::{Names, Sql};
use crate::error::{Error, Result};
use crate::migrations::{Migration, check_version, checksum, pending};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "events, chain head, anchors, outbox, truncate guard, append-only triggers",
        sql: include_str!("../../migrations/mysql/0001_events.sql"),
    },
    Migration {
        version: 2,
        description: "Merkle tree rows and signed checkpoints (tree of stored events built)",
        sql: include_str!("../../migrations/mysql/0002_tree.sql"),
    },
    Migration {
        version: 3,
        description: "truncate guard of the tree tables, the tree head row kept, checkpoints beyond the head refused",
        sql: include_str!("../../migrations/mysql/0003_tree_guards.sql"),
    },
];

/// The schema version this build of the crate writes and understands (MySQL backend).
pub const SCHEMA_VERSION: i32 = 3;

/// What differs between the servers in the schema: found from `VERSION()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    MariaDb,
    MySql,
}

impl Flavor {
    fn of(version: &str) -> Self {
        if version.contains("MariaDB") {
            Self::MariaDb
        } else {
            Self::MySql
        }
    }

    /// A binary, NO PAD collation: text compares, groups and sorts as Rust strings do.
    fn text_collation(self) -> &'static str {
        match self {
            Self::MariaDb => "utf8mb4_nopad_bin",
            Self::MySql => "utf8mb4_0900_bin",
        }
    }

    /// A column that keeps the JSON text as written. MySQL's native JSON type would reformat
    /// it; MariaDB's JSON is a LONGTEXT checked by `JSON_VALID`, which refuses nesting from 32
    /// levels (measured) while the event model allows 32, so MariaDB gets the LONGTEXT alone.
    fn json_column(self) -> &'static str {
        match self {
            Self::MariaDb => "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            Self::MySql => {
                "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin CHECK (JSON_VALID(metadata))"
            }
        }
    }
}

/// Fills the placeholders of a migration's SQL (see the head of the migration file).
fn render(sql: &str, names: &Names, flavor: Flavor) -> String {
    let mut text = sql.to_string();
    for table in [
        "events",
        "chain_head",
        "anchors",
        "outbox_rejected",
        "outbox",
        "truncate_guard",
        "tree_guard",
        "tree_head",
        "tree",
        "checkpoints",
    ] {
        text = text.replace(&format!("{{{table}}}"), &names.table(table));
    }
    text.replace("{prefix}", &names.prefix)
        .replace("{trigger_db}", &names.qualifier())
        .replace("{text}", flavor.text_collation())
        .replace("{json}", flavor.json_column())
}

/// The statements of a migration file: separated by `$$`, comments-only pieces dropped.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split("$$").filter(|s| {
        s.lines()
            .map(str::trim)
            .any(|l| !l.is_empty() && !l.starts_with("--"))
    })
}

/// The named lock serialising migrations of one set of tables (`GET_LOCK` names are at most
/// 64 characters, so the database and prefix are hashed).
fn lock_name(database: &str, names: &Names) -> String {
    let key = format!("{database}.{}", names.prefix);
    let digest = audit_core::ChainHasher::sha256().hash_bytes(key.as_bytes());
    format!("audit_sqlx:{}", &digest.to_string()[..40])
}

/// Creates the database if configured, and applies every pending migration.
pub(crate) async fn run(db: &Db, sql: &Sql) -> Result<()> {
    let mut conn = db.detached().await?;
    let result = run_on(&mut conn, sql).await;
    close_detached(conn).await;
    result
}

async fn run_on(conn: &mut MySqlConnection, sql: &Sql) -> Result<()> {
    let names = &sql.names;
    if let Some(database) = &names.database {
        conn.execute(raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))))
        .await?;
    }
    let row = query::<MySql>("SELECT VERSION(), DATABASE()")
        .fetch_one(&mut *conn)
        .await?;
    let flavor = Flavor::of(&row.try_get::<String, _>(0)?);
    let database = match &names.database {
        Some(db) => db.to_string(),
        None => row.try_get::<Option<String>, _>(1)?.ok_or_else(|| {
            Error::Schema(
                "the connection URL names no database and MySqlOptions::database is not set".into(),
            )
        })?,
    };
    let lock = lock_name(&database, names);
    let locked: Option<i64> = query_scalar::<MySql, Option<i64>>("SELECT GET_LOCK(?, 120)")
        .bind(&lock)
        .fetch_one(&mut *conn)
        .await?;
    if locked != Some(1) {
        return Err(Error::Schema(format!(
            "another process held the migration lock of {names} for 120 s"
        )));
    }
    let result = apply(conn, sql, flavor).await;
    let _ = query::<MySql>("SELECT RELEASE_LOCK(?)")
        .bind(&lock)
        .execute(&mut *conn)
        .await;
    result
}

async fn apply(conn: &mut MySqlConnection, sql: &Sql, flavor: Flavor) -> Result<()> {
    let names = &sql.names;
    let table = &sql.migrations;
    conn.execute(raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {table} (
             version     INT          NOT NULL,
             description VARCHAR(200) NOT NULL,
             checksum    BINARY(32)   NOT NULL,
             applied_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
             PRIMARY KEY (version)
         ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin"
    ))))
    .await?;
    let applied = query::<MySql>(AssertSqlSafe(format!(
        "SELECT version, checksum FROM {table} ORDER BY version"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get::<i32, _>(0)?, row.try_get::<Vec<u8>, _>(1)?)))
    .collect::<Result<Vec<_>>>()?;
    for migration in pending(MIGRATIONS, &applied, names)? {
        let text = render(migration.sql, names, flavor);
        for statement in statements(&text) {
            conn.execute(raw_sql(AssertSqlSafe(statement.to_string())))
                .await?;
        }
        if migration.version == 2 {
            super::tree::build(conn, sql).await?;
        }
        query::<MySql>(AssertSqlSafe(format!(
            "INSERT INTO {table} (version, description, checksum) VALUES (?, ?, ?)"
        )))
        .bind(migration.version)
        .bind(migration.description)
        .bind(checksum(migration.sql))
        .execute(&mut *conn)
        .await?;
        tracing::info!(store = %names, version = migration.version, "applied audit-sqlx migration");
    }
    Ok(())
}

/// Checks that the tables exist at exactly [`SCHEMA_VERSION`] without changing anything.
pub(crate) async fn check(db: &Db, sql: &Sql) -> Result<()> {
    let mut conn = db.acquire().await?;
    let version = query_scalar::<MySql, Option<i32>>(AssertSqlSafe(format!(
        "SELECT MAX(version) FROM {}",
        sql.migrations
    )))
    .fetch_one(&mut *conn)
    .await;
    let version = match version {
        Ok(v) => v,
        // 1146: no such table.
        Err(sqlx_core::Error::Database(err))
            if err
                .try_downcast_ref::<sqlx_mysql::MySqlDatabaseError>()
                .is_some_and(|e| e.number() == 1146) =>
        {
            return Err(Error::Schema(format!(
                "{} has no audit tables; run the migrations with a privileged user \
                 (MySqlOptions::migrate(true))",
                sql.names
            )));
        }
        Err(err) => return Err(err.into()),
    };
    check_version(version, SCHEMA_VERSION, &sql.names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_of_the_migration_is_filled() {
        let names = Names {
            database: Some("app".into()),
            prefix: "audit_".into(),
        };
        for (migration, flavor) in MIGRATIONS
            .iter()
            .flat_map(|m| [(m, Flavor::MariaDb), (m, Flavor::MySql)])
        {
            let text = render(migration.sql, &names, flavor);
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            assert!(!code.contains('{') && !code.contains('}'), "{code}");
            assert!(code.contains("`app`.`audit_"));
        }
    }

    #[test]
    fn trigger_bodies_stay_whole_statements() {
        let names = Names::default();
        let text = render(MIGRATIONS[0].sql, &names, Flavor::MariaDb);
        let delete_trigger = statements(&text)
            .find(|s| s.contains("audit_events_no_delete BEFORE DELETE"))
            .expect("the delete trigger");
        assert!(
            delete_trigger.trim_end().ends_with("END"),
            "{delete_trigger}"
        );
    }

    #[test]
    fn lock_names_fit_get_lock() {
        let names = Names {
            database: Some("d".repeat(64).into()),
            prefix: "p".repeat(47).into(),
        };
        assert!(lock_name(&"d".repeat(64), &names).len() <= 64);
    }
}

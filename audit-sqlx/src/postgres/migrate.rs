//! Embedded, versioned migrations applied under an advisory lock.
//!
//! `sqlx::migrate!` would need the `sqlx` facade with its `macros` feature, which pulls
//! `sqlx-sqlite` into the lock file (and a second `libsqlite3-sys` beside rusqlite's), and
//! sqlx's `Migrator` keeps one `_sqlx_migrations` table per database with fixed SQL, while this
//! crate lets each store live in its own schema. So the SQL files are embedded with
//! `include_str!`, the schema name is spliced in, and this small runner applies them in one
//! transaction under `pg_advisory_xact_lock`, so several processes starting at once migrate
//! exactly once. Each applied version's SHA-256 is recorded; an edited or unknown (newer)
//! version is refused with [`Error::Schema`](crate::Error::Schema).

use sqlx_core::executor::Executor;
use sqlx_core::query::query;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::row::Row;
use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr};
use sqlx_postgres::{PgPool, Postgres};

use super::schema::SchemaName;
use crate::error::{Error, Result};
use crate::migrations::{Migration, check_version, checksum, pending};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "events, chain head, anchors, outbox, append-only triggers",
        sql: include_str!("../../migrations/postgres/0001_events.sql"),
    },
    Migration {
        version: 2,
        description: "outbox rows the relay could not read",
        sql: include_str!("../../migrations/postgres/0002_outbox_rejected.sql"),
    },
    Migration {
        version: 3,
        description: "rows beyond the chain head refused",
        sql: include_str!("../../migrations/postgres/0003_rows_within_head.sql"),
    },
    Migration {
        version: 4,
        description: "Merkle tree rows and signed checkpoints (tree of stored events built)",
        sql: include_str!("../../migrations/postgres/0004_tree.sql"),
    },
    Migration {
        version: 5,
        description: "lookup indexes by request id, IP and entity id",
        sql: include_str!("../../migrations/postgres/0005_lookup_indexes.sql"),
    },
    Migration {
        version: 6,
        description: "tree rows and checkpoints beyond the chain head refused",
        sql: include_str!("../../migrations/postgres/0006_tree_within_head.sql"),
    },
];

/// The schema version this build of the crate writes and understands.
pub const SCHEMA_VERSION: i32 = 6;

/// Creates the schema if needed and applies every pending migration.
pub(crate) async fn run(pool: &PgPool, schema: &SchemaName) -> Result<()> {
    let s = schema.quoted();
    let mut tx = pool.begin().await?;
    query::<Postgres>("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("audit_sqlx:migrate:{}", schema.as_str()))
        .execute(&mut *tx)
        .await?;
    tx.execute(raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.audit_schema_migrations (
             version     integer     PRIMARY KEY,
             description text        NOT NULL,
             checksum    bytea       NOT NULL,
             applied_at  timestamptz NOT NULL DEFAULT now()
         );"
    ))))
    .await?;
    let applied = query::<Postgres>(AssertSqlSafe(format!(
        "SELECT version, checksum FROM {s}.audit_schema_migrations ORDER BY version"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let applied = applied
        .iter()
        .map(|row| Ok((row.try_get::<i32, _>(0)?, row.try_get::<Vec<u8>, _>(1)?)))
        .collect::<Result<Vec<_>>>()?;
    let place = format!("schema {schema}");
    for migration in pending(MIGRATIONS, &applied, &place)? {
        let text = migration.sql.replace("__SCHEMA__", &s);
        tx.execute(raw_sql(AssertSqlSafe(text).into_sql_str()))
            .await?;
        if migration.version == 4 {
            super::tree::build(&mut tx, schema).await?;
        }
        query::<Postgres>(AssertSqlSafe(format!(
            "INSERT INTO {s}.audit_schema_migrations (version, description, checksum) \
             VALUES ($1, $2, $3)"
        )))
        .bind(migration.version)
        .bind(migration.description)
        .bind(checksum(migration.sql))
        .execute(&mut *tx)
        .await?;
        tracing::info!(schema = %schema, version = migration.version, "applied audit-sqlx migration");
    }
    tx.commit().await?;
    Ok(())
}

/// Checks that the schema exists at exactly [`SCHEMA_VERSION`] without changing anything.
pub(crate) async fn check(pool: &PgPool, schema: &SchemaName) -> Result<()> {
    let s = schema.quoted();
    let exists: bool = sqlx_core::query_scalar::query_scalar::<Postgres, bool>(
        "SELECT to_regclass($1) IS NOT NULL",
    )
    .bind(format!("{s}.audit_schema_migrations"))
    .fetch_one(pool)
    .await?;
    if !exists {
        return Err(Error::Schema(format!(
            "schema {schema} has no audit tables; run the migrations with a privileged role \
             (PgOptions::migrate(true))"
        )));
    }
    let version: Option<i32> =
        sqlx_core::query_scalar::query_scalar::<Postgres, Option<i32>>(AssertSqlSafe(format!(
            "SELECT max(version) FROM {s}.audit_schema_migrations"
        )))
        .fetch_one(pool)
        .await?;
    check_version(version, SCHEMA_VERSION, &format!("schema {schema}"))
}

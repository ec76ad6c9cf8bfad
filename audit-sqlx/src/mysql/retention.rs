//! The one privileged path that removes events: a chain prefix older than a cutoff, purged
//! ([`MySqlStore::purge_before`]) or archived to a file first ([`MySqlStore::archive`]).

use std::path::PathBuf;

use audit_core::archive::{ArchiveReport, archived_event};
use audit_core::chain::{ChainAnchor, ChainHash};
use chrono::{DateTime, Utc};
use sqlx_core::executor::Executor;
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::{MySql, MySqlConnection};

use super::db::close_detached;
use super::row::datetime;
use super::store::MySqlStore;
use super::write::{append, lock_head};
use crate::append::Check;
use crate::error::{Error, Result};
use crate::prepared::Prepared;
use crate::read::ReadBackend;
use crate::retention::{Prefix, PurgeReport, finish_archive, last_to_purge, write_archive};

/// The backend name written into archive headers and the `AUDIT_ARCHIVED` event's actor.
const SOURCE: &str = "mysql";

impl MySqlStore {
    /// Deletes the oldest events whose `occurred_at` is before `cutoff`, as a prefix of the
    /// chain: it stops at the first event (by seq) at or after `cutoff`, so the chain that
    /// remains stays contiguous and verifies from the recorded anchor.
    ///
    /// This must run as a user with `DELETE` on the events table and `INSERT` on the anchors
    /// (the owner); the application user has neither (see the crate docs). It runs on a
    /// connection of its own, closed afterwards, because it marks its session for the
    /// append-only trigger. Writers wait while it runs: it holds the chain head lock so the
    /// prefix it computes cannot change underneath it.
    pub async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<PurgeReport> {
        self.runtime()
            .run(async move {
                let mut conn = self.inner.db.detached().await?;
                let result = self.purge_on(&mut conn, cutoff).await;
                close_detached(conn).await;
                result
            })
            .await
    }

    async fn purge_on(
        &self,
        conn: &mut MySqlConnection,
        cutoff: DateTime<Utc>,
    ) -> Result<PurgeReport> {
        let Some(prefix) = self.retention_prefix(conn, cutoff).await? else {
            return Ok(PurgeReport::NOTHING);
        };
        let deleted = self.remove_prefix(conn, &prefix).await?;
        conn.execute("COMMIT").await?;
        tracing::info!(
            store = %self.inner.sql.names,
            through_seq = prefix.last.seq,
            deleted,
            "purged audit events"
        );
        Ok(PurgeReport {
            deleted,
            anchor: Some(prefix.last),
        })
    }

    /// Moves every event older than `before` (a prefix of the chain, as
    /// [`purge_before`](Self::purge_before) computes it) into a new archive file at `path`, in
    /// audit-core's backend-neutral [`archive`](audit_core::archive) format (the same as the
    /// other backends'), then removes them through the retention path and records an
    /// [`AUDIT_ARCHIVED`](audit_core::archive::ARCHIVED_ACTION) event naming the range and the
    /// file's SHA-256, in the same transaction. The archive verifies alone with
    /// [`verify_archive`](audit_core::archive::verify_archive), and the live chain from its new
    /// anchor.
    ///
    /// The range is verified while it is written: a broken chain is refused
    /// ([`ArchiveError::ChainBroken`](audit_core::archive::ArchiveError::ChainBroken)) rather
    /// than deleted, and so is an existing `path`. The file is complete and synced before the
    /// delete commits; if the commit fails, the file is removed again. Run it as the owner
    /// (like `purge_before`); writers wait on the chain head while it runs. It uses a
    /// connection of its own for the transaction and one of the pool's to read the range.
    pub async fn archive(
        &self,
        before: DateTime<Utc>,
        path: impl Into<PathBuf>,
    ) -> Result<ArchiveReport> {
        let path = path.into();
        self.runtime()
            .run(async move {
                let mut conn = self.inner.db.detached().await?;
                let result = self.archive_on(&mut conn, before, path).await;
                close_detached(conn).await;
                result
            })
            .await
    }

    async fn archive_on(
        &self,
        conn: &mut MySqlConnection,
        before: DateTime<Utc>,
        path: PathBuf,
    ) -> Result<ArchiveReport> {
        let Some(prefix) = self.retention_prefix(conn, before).await? else {
            return Ok(ArchiveReport::empty(path));
        };
        let file = write_archive(self, &prefix, path.clone(), SOURCE).await?;
        let committed = async {
            self.remove_prefix(conn, &prefix).await?;
            let inner = &self.inner;
            let mut rows = [Prepared::new(
                &archived_event(SOURCE, &file, before),
                &inner.rules,
            )?];
            let positions =
                append(conn, &inner.sql, &inner.hasher, &mut rows, Check::Nothing).await?;
            conn.execute("COMMIT").await?;
            Ok::<_, Error>(positions.first().map(|p| p.seq))
        }
        .await;
        finish_archive(committed, &prefix, file, path, &self.inner.sql.names)
    }

    /// Opens the retention path and a transaction on `conn`, locks the chain head, and finds
    /// the prefix older than `cutoff` (`None`, with the transaction ended, when nothing is).
    async fn retention_prefix(
        &self,
        conn: &mut MySqlConnection,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<Prefix>> {
        let inner = &self.inner;
        let events = &inner.sql.events;
        conn.execute(raw_sql(AssertSqlSafe(
            "SET @audit_sqlx_retention = 'on'; START TRANSACTION".to_string(),
        )))
        .await?;
        lock_head(conn, &inner.sql, &inner.hasher).await?;
        let bounds = query::<MySql>(AssertSqlSafe(format!(
            "SELECT (SELECT MIN(seq) FROM {events} WHERE occurred_at >= ?), MIN(seq), MAX(seq) \
             FROM {events}"
        )))
        .bind(datetime(cutoff))
        .fetch_one(&mut *conn)
        .await?;
        let Some(cut) = last_to_purge(bounds.try_get(0)?, bounds.try_get(1)?, bounds.try_get(2)?)
        else {
            conn.execute("COMMIT").await?;
            return Ok(None);
        };
        let hash: Vec<u8> = query_scalar::<MySql, Vec<u8>>(inner.sql.hash_at.clone())
            .bind(cut)
            .fetch_one(&mut *conn)
            .await?;
        let hash = ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
            seq: cut,
            message: format!("hash: {err}"),
        })?;
        // Where the stored chain starts; records removed outside this path leave a gap the
        // archive writer refuses rather than anchors over.
        let anchor = ReadBackend::retention_anchor(self)
            .await?
            .unwrap_or(ChainAnchor::GENESIS);
        Ok(Some(Prefix {
            anchor,
            last: ChainAnchor { seq: cut, hash },
        }))
    }

    /// Records the new anchor and deletes the prefix (inside the retention path of `conn`).
    async fn remove_prefix(&self, conn: &mut MySqlConnection, prefix: &Prefix) -> Result<u64> {
        let inner = &self.inner;
        query::<MySql>(AssertSqlSafe(format!(
            "INSERT INTO {} (seq, hash, purged_by) VALUES (?, ?, CURRENT_USER())",
            inner.sql.anchors
        )))
        .bind(prefix.last.seq)
        .bind(prefix.last.hash.as_bytes().to_vec())
        .execute(&mut *conn)
        .await?;
        Ok(query::<MySql>(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE seq <= ?",
            inner.sql.events
        )))
        .bind(prefix.last.seq)
        .execute(&mut *conn)
        .await?
        .rows_affected())
    }
}

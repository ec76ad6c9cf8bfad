//! The one privileged path that removes events: a chain prefix older than a cutoff.

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
use super::write::lock_head;
use crate::error::{Error, Result};
use crate::retention::{PurgeReport, last_to_purge};

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
            return Ok(PurgeReport::NOTHING);
        };
        let hash: Vec<u8> = query_scalar::<MySql, Vec<u8>>(inner.sql.hash_at.clone())
            .bind(cut)
            .fetch_one(&mut *conn)
            .await?;
        let anchor_hash = ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
            seq: cut,
            message: format!("hash: {err}"),
        })?;
        query::<MySql>(AssertSqlSafe(format!(
            "INSERT INTO {} (seq, hash, purged_by) VALUES (?, ?, CURRENT_USER())",
            inner.sql.anchors
        )))
        .bind(cut)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
        let deleted = query::<MySql>(AssertSqlSafe(format!(
            "DELETE FROM {events} WHERE seq <= ?"
        )))
        .bind(cut)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        conn.execute("COMMIT").await?;
        tracing::info!(store = %inner.sql.names, through_seq = cut, deleted, "purged audit events");
        Ok(PurgeReport {
            deleted,
            anchor: Some(ChainAnchor {
                seq: cut,
                hash: anchor_hash,
            }),
        })
    }
}

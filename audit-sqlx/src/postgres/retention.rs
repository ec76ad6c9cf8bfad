//! The one privileged path that removes events: a chain prefix older than a cutoff.

use audit_core::chain::ChainAnchor;
use chrono::{DateTime, Utc};
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::Postgres;

use crate::error::{Error, Result};
use super::store::PgStore;

/// What a retention run removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    /// How many events were deleted.
    pub deleted: u64,
    /// The new verification anchor (the last purged event), when anything was purged.
    pub anchor: Option<ChainAnchor>,
}

impl PgStore {
    /// Deletes the oldest events whose `occurred_at` is before `cutoff`, as a prefix of the
    /// chain: it stops at the first event (by seq) at or after `cutoff`, so the chain that remains
    /// stays contiguous and verifies from the recorded anchor.
    ///
    /// This must run with a role that has `DELETE` on the events table (the schema owner); the
    /// app role does not (see the crate docs). Writers wait while it runs: it holds the chain
    /// head lock so the prefix it computes cannot change underneath it.
    pub async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<PurgeReport> {
        let inner = &self.inner;
        let s = inner.sql.schema.quoted();
        let events = &inner.sql.events;
        let mut tx = inner.pool.begin().await?;
        query::<Postgres>("SELECT set_config('audit_sqlx.retention', 'on', true)")
            .execute(&mut *tx)
            .await?;
        query::<Postgres>(inner.sql.lock_head.clone())
            .execute(&mut *tx)
            .await?;
        let cut: Option<i64> = query_scalar::<Postgres, Option<i64>>(AssertSqlSafe(format!(
            "SELECT COALESCE(
                 (SELECT min(seq) FROM {events} WHERE occurred_at >= $1) - 1,
                 (SELECT max(seq) FROM {events}))"
        )))
        .bind(cutoff)
        .fetch_one(&mut *tx)
        .await?;
        let floor: i64 = query_scalar::<Postgres, Option<i64>>(AssertSqlSafe(format!(
            "SELECT min(seq) - 1 FROM {events}"
        )))
        .fetch_one(&mut *tx)
        .await?
        .unwrap_or(0);
        let Some(cut) = cut.filter(|c| *c > floor) else {
            tx.commit().await?;
            return Ok(PurgeReport {
                deleted: 0,
                anchor: None,
            });
        };
        let hash: Vec<u8> = query_scalar::<Postgres, Vec<u8>>(inner.sql.hash_at.clone())
            .bind(cut)
            .fetch_one(&mut *tx)
            .await?;
        let anchor_hash =
            audit_core::chain::ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
                seq: cut as u64,
                message: format!("hash: {err}"),
            })?;
        query::<Postgres>(AssertSqlSafe(format!(
            "INSERT INTO {s}.audit_anchors (seq, hash) VALUES ($1, $2)"
        )))
        .bind(cut)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        let deleted = query::<Postgres>(AssertSqlSafe(format!(
            "DELETE FROM {events} WHERE seq <= $1"
        )))
        .bind(cut)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        tracing::info!(schema = %inner.sql.schema, through_seq = cut, deleted, "purged audit events");
        Ok(PurgeReport {
            deleted,
            anchor: Some(ChainAnchor {
                seq: cut as u64,
                hash: anchor_hash,
            }),
        })
    }
}

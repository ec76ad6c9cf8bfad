//! The one privileged path that removes events: a chain prefix older than a cutoff.

use audit_core::chain::ChainAnchor;
use chrono::{DateTime, Utc};
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::Postgres;

use super::store::PgStore;
use crate::error::{Error, Result};
use crate::retention::{PurgeReport, last_to_purge};

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
        let bounds = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT (SELECT min(seq) FROM {events} WHERE occurred_at >= $1), min(seq), max(seq) \
             FROM {events}"
        )))
        .bind(cutoff)
        .fetch_one(&mut *tx)
        .await?;
        let seq = |i: usize| -> Result<Option<u64>> {
            Ok(bounds
                .try_get::<Option<i64>, _>(i)?
                .and_then(|s| u64::try_from(s).ok()))
        };
        let Some(cut) = last_to_purge(seq(0)?, seq(1)?, seq(2)?) else {
            tx.commit().await?;
            return Ok(PurgeReport::NOTHING);
        };
        let cut_i64 = cut as i64;
        let hash: Vec<u8> = query_scalar::<Postgres, Vec<u8>>(inner.sql.hash_at.clone())
            .bind(cut_i64)
            .fetch_one(&mut *tx)
            .await?;
        let anchor_hash =
            audit_core::chain::ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
                seq: cut,
                message: format!("hash: {err}"),
            })?;
        query::<Postgres>(AssertSqlSafe(format!(
            "INSERT INTO {s}.audit_anchors (seq, hash) VALUES ($1, $2)"
        )))
        .bind(cut_i64)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        let deleted = query::<Postgres>(AssertSqlSafe(format!(
            "DELETE FROM {events} WHERE seq <= $1"
        )))
        .bind(cut_i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        tracing::info!(schema = %inner.sql.schema, through_seq = cut, deleted, "purged audit events");
        Ok(PurgeReport {
            deleted,
            anchor: Some(ChainAnchor {
                seq: cut,
                hash: anchor_hash,
            }),
        })
    }
}

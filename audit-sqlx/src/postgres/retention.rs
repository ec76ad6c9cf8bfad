//! The one privileged path that removes events: a chain prefix older than a cutoff, purged
//! ([`PgStore::purge_before`]) or archived to a file first ([`PgStore::archive`]).

use std::path::PathBuf;

use audit_core::archive::{ArchiveReport, archived_event};
use audit_core::chain::{ChainAnchor, ChainHash};
use chrono::{DateTime, Utc};
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::{PgConnection, Postgres};

use super::encode::PG_RULES;
use super::store::PgStore;
use super::write::append;
use crate::append::Check;
use crate::error::{Error, Result};
use crate::prepared::Prepared;
use crate::read::ReadBackend;
use crate::retention::{Prefix, PurgeReport, finish_archive, last_to_purge, write_archive};

/// The backend name written into archive headers and the `AUDIT_ARCHIVED` event's actor.
const SOURCE: &str = "postgres";

impl PgStore {
    /// Deletes the oldest events whose `occurred_at` is before `cutoff`, as a prefix of the
    /// chain: it stops at the first event (by seq) at or after `cutoff`, so the chain that remains
    /// stays contiguous and verifies from the recorded anchor.
    ///
    /// This must run with a role that has `DELETE` on the events table (the schema owner); the
    /// app role does not (see the crate docs). Writers wait while it runs: it holds the chain
    /// head lock so the prefix it computes cannot change underneath it.
    pub async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<PurgeReport> {
        self.runtime()
            .run(async move {
                let mut tx = self.inner.pool.begin().await?;
                let Some(prefix) = self.retention_prefix(&mut tx, cutoff).await? else {
                    tx.commit().await?;
                    return Ok(PurgeReport::NOTHING);
                };
                let deleted = self.remove_prefix(&mut tx, &prefix).await?;
                tx.commit().await?;
                tracing::info!(
                    schema = %self.inner.sql.schema,
                    through_seq = prefix.last.seq,
                    deleted,
                    "purged audit events"
                );
                Ok(PurgeReport {
                    deleted,
                    anchor: Some(prefix.last),
                })
            })
            .await
    }

    /// Moves every event older than `before` (a prefix of the chain, as
    /// [`purge_before`](Self::purge_before) computes it) into a new archive file at `path`, in
    /// audit-core's backend-neutral [`archive`](audit_core::archive) format (the same as
    /// `audit-sqlite`'s), then removes them through the retention path and records an
    /// [`AUDIT_ARCHIVED`](audit_core::archive::ARCHIVED_ACTION) event naming the range and the
    /// file's SHA-256, in the same transaction. The archive verifies alone with
    /// [`verify_archive`](audit_core::archive::verify_archive), and the live chain from its new
    /// anchor.
    ///
    /// The range is verified while it is written: a broken chain is refused
    /// ([`ArchiveError::ChainBroken`](audit_core::archive::ArchiveError::ChainBroken)) rather
    /// than deleted, and so is an existing `path`. The file is complete and synced before the
    /// delete commits; if the commit fails, the file is removed again. Run it as the schema
    /// owner (like `purge_before`); writers wait on the chain head while it runs, and the file
    /// is written from the async task (a buffered, blocking write), so give it a store of its
    /// own rather than the one serving requests. It uses two of the pool's connections: one
    /// holds the transaction, the other reads the range.
    pub async fn archive(
        &self,
        before: DateTime<Utc>,
        path: impl Into<PathBuf>,
    ) -> Result<ArchiveReport> {
        self.runtime()
            .run(async move {
                let path = path.into();
                let mut tx = self.inner.pool.begin().await?;
                let Some(prefix) = self.retention_prefix(&mut tx, before).await? else {
                    tx.commit().await?;
                    return Ok(ArchiveReport::empty(path));
                };
                let file = write_archive(self, &prefix, path.clone(), SOURCE).await?;
                let committed = async {
                    self.remove_prefix(&mut tx, &prefix).await?;
                    let mut rows = [Prepared::new(
                        &archived_event(SOURCE, &file, before),
                        &PG_RULES,
                    )?];
                    let inner = &self.inner;
                    let positions = append(
                        &mut tx,
                        &inner.sql,
                        &inner.hasher,
                        inner.insert_mode,
                        &mut rows,
                        Check::Nothing,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok::<_, Error>(positions.first().map(|p| p.seq))
                }
                .await;
                finish_archive(committed, &prefix, file, path, &self.inner.sql.schema)
            })
            .await
    }

    /// Opens the retention path in `tx`, locks the chain head, and finds the prefix older than
    /// `cutoff` (`None` when nothing is).
    async fn retention_prefix(
        &self,
        tx: &mut PgConnection,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<Prefix>> {
        let inner = &self.inner;
        let events = &inner.sql.events;
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
            return Ok(None);
        };
        let cut = cut as i64;
        let last = ChainAnchor {
            seq: cut as u64,
            hash: self.stored_hash(tx, cut).await?,
        };
        // Where the stored chain starts. If records before it were removed outside this path,
        // the first stored record does not link to it, and the archive writer refuses the
        // range (the gap stays visible to verification instead of being anchored over).
        let anchor = ReadBackend::retention_anchor(self)
            .await?
            .unwrap_or(ChainAnchor::GENESIS);
        Ok(Some(Prefix { anchor, last }))
    }

    async fn stored_hash(&self, tx: &mut PgConnection, seq: i64) -> Result<ChainHash> {
        let hash: Vec<u8> = query_scalar::<Postgres, Vec<u8>>(self.inner.sql.hash_at.clone())
            .bind(seq)
            .fetch_one(&mut *tx)
            .await?;
        ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
            seq: seq as u64,
            message: format!("hash: {err}"),
        })
    }

    /// Records the new anchor and deletes the prefix (inside the retention path of `tx`).
    async fn remove_prefix(&self, tx: &mut PgConnection, prefix: &Prefix) -> Result<u64> {
        let s = self.inner.sql.schema.quoted();
        let events = &self.inner.sql.events;
        let cut = prefix.last.seq as i64;
        query::<Postgres>(AssertSqlSafe(format!(
            "INSERT INTO {s}.audit_anchors (seq, hash) VALUES ($1, $2)"
        )))
        .bind(cut)
        .bind(prefix.last.hash.as_bytes().to_vec())
        .execute(&mut *tx)
        .await?;
        Ok(query::<Postgres>(AssertSqlSafe(format!(
            "DELETE FROM {events} WHERE seq <= $1"
        )))
        .bind(cut)
        .execute(&mut *tx)
        .await?
        .rows_affected())
    }
}

//! The read side for [`PgStore`]: the queries behind [`ReadBackend`] (filters, keyset pages,
//! counts, the chain scan), and the public lookups.

use async_trait::async_trait;
use audit_core::chain::{ChainAnchor, ChainHash, Checkpoint, VerifyReport};
use audit_core::query::{AuditQuery, CountBy, GroupCount, Page};
use audit_core::store::VerifyScope;
use audit_core::{ChainHasher, StoredEvent};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sqlx_core::query::query;
use sqlx_core::query_builder::QueryBuilder;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::row::Row;
use sqlx_postgres::Postgres;

use super::store::PgStore;
use crate::error::{Error, Result};
use crate::fields::read_row;
use crate::filters::{FilterSql, Select, group, select};
use crate::read::{self, ReadBackend, audit_store_through_read_backend};

struct PgFilters;

impl FilterSql<Postgres> for PgFilters {
    fn action_prefix(b: &mut QueryBuilder<Postgres>, prefix: &str) {
        b.push("starts_with(action, ")
            .push_bind(prefix.to_owned())
            .push(")");
    }

    fn ip_in(b: &mut QueryBuilder<Postgres>, net: IpNet) {
        // inet containment; an IPv4 network never contains an IPv6 address, as in ipnet.
        b.push("ip <<= ").push_bind(net).push("::inet");
    }

    fn description_contains(b: &mut QueryBuilder<Postgres>, needle: &str) {
        // strpos: a plain substring test, no LIKE wildcards to escape.
        b.push("strpos(description, ")
            .push_bind(needle.to_owned())
            .push(") > 0");
    }

    fn changed(b: &mut QueryBuilder<Postgres>, path: &str) {
        // `?`: the jsonb array holds the string.
        b.push("(");
        for (i, list) in ["added", "removed", "changed"].iter().enumerate() {
            if i > 0 {
                b.push(" OR ");
            }
            b.push(format_args!("metadata->'changes'->'{list}' ? "))
                .push_bind(path.to_owned());
        }
        b.push(")");
    }

    fn time(b: &mut QueryBuilder<Postgres>, at: DateTime<Utc>) {
        b.push_bind(at);
    }

    const DAY: &'static str = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
}

fn hash_of(seq: u64, bytes: &[u8]) -> Result<ChainHash> {
    ChainHash::from_slice(bytes).map_err(|err| Error::Corrupt {
        seq,
        message: format!("hash: {err}"),
    })
}

#[async_trait]
impl ReadBackend for PgStore {
    fn hasher(&self) -> &ChainHasher {
        &self.inner.hasher
    }

    fn verify_parallelism(&self) -> audit_core::chain::Parallelism {
        self.inner.verify_parallelism
    }

    async fn page(&self, q: &AuditQuery) -> Result<Page> {
        let mut b = select::<_, PgFilters>(&self.inner.sql.events, q, Select::Page);
        let rows = b.build().fetch_all(&self.inner.pool).await?;
        let events = rows.iter().map(read_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_fetched(events, q.page_size()))
    }

    async fn count(&self, q: &AuditQuery) -> Result<u64> {
        let mut b = select::<_, PgFilters>(&self.inner.sql.events, q, Select::Count);
        let n: i64 = b
            .build_query_scalar::<i64>()
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn count_groups(&self, q: &AuditQuery, by: CountBy) -> Result<Vec<GroupCount>> {
        let mut b = select::<_, PgFilters>(&self.inner.sql.events, q, Select::Groups(by));
        let rows = b.build().fetch_all(&self.inner.pool).await?;
        rows.iter()
            .map(|row| Ok(group(row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let row = query::<Postgres>(self.inner.sql.get.clone())
            .bind(seq)
            .fetch_optional(&self.inner.pool)
            .await?;
        row.as_ref().map(read_row).transpose()
    }

    async fn hash_at(&self, seq: u64) -> Result<Option<ChainHash>> {
        let Ok(at) = i64::try_from(seq) else {
            return Ok(None);
        };
        let hash: Option<Vec<u8>> =
            query_scalar::<Postgres, Vec<u8>>(self.inner.sql.hash_at.clone())
                .bind(at)
                .fetch_optional(&self.inner.pool)
                .await?;
        hash.map(|h| hash_of(seq, &h)).transpose()
    }

    async fn retention_anchor(&self) -> Result<Option<ChainAnchor>> {
        let row = query::<Postgres>(self.inner.sql.latest_anchor.clone())
            .fetch_optional(&self.inner.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get(0)?;
        let hash: Vec<u8> = row.try_get(1)?;
        Ok(Some(ChainAnchor {
            seq: u64::try_from(seq).unwrap_or(0),
            hash: ChainHash::from_slice(&hash)
                .map_err(|err| Error::Schema(format!("retention anchor: {err}")))?,
        }))
    }

    async fn scan(&self, after: u64, last: u64, limit: u32) -> Result<Vec<Result<StoredEvent>>> {
        let rows = query::<Postgres>(self.inner.sql.scan.clone())
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::try_from(last).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.inner.pool)
            .await?;
        Ok(rows.iter().map(read_row).collect())
    }

    async fn head_row(&self) -> Result<(u64, ChainHash)> {
        let row = query::<Postgres>(self.inner.sql.head.clone())
            .fetch_optional(&self.inner.pool)
            .await?
            .ok_or_else(|| Error::Schema("the chain head row is missing".into()))?;
        let seq: i64 = row.try_get(0)?;
        let hash: Vec<u8> = row.try_get(1)?;
        let hash = ChainHash::from_slice(&hash)
            .map_err(|err| Error::Schema(format!("chain head hash: {err}")))?;
        Ok((u64::try_from(seq).unwrap_or(0), hash))
    }
}

audit_store_through_read_backend!(PgStore);

impl PgStore {
    /// Looks up one record by seq.
    pub async fn get_event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        self.runtime().run(ReadBackend::get(self, seq)).await
    }

    /// Streams the records of `scope` through a
    /// [`ChainVerifier`](audit_core::chain::ChainVerifier), 2000 rows at a time, so memory
    /// stays constant whatever the chain's length; records beyond the chain head row are
    /// reported as inserted.
    pub async fn verify_chain(
        &self,
        scope: VerifyScope,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport> {
        self.runtime()
            .run(read::verify(
                self,
                scope,
                checkpoint,
                self.inner.verify_parallelism,
            ))
            .await
    }

    /// The chain head (covers purged history too), as a checkpoint to keep elsewhere.
    pub async fn chain_head(&self) -> Result<Option<Checkpoint>> {
        self.runtime().run(read::checkpoint(self)).await
    }
}

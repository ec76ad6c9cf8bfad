//! The read side for [`MySqlStore`]: the queries behind [`ReadBackend`] (filters, keyset
//! pages, counts, the chain scan).

use async_trait::async_trait;
use audit_core::chain::{ChainAnchor, ChainHash};
use audit_core::query::{AuditQuery, CountBy, GroupCount, Page};
use audit_core::{ChainHasher, StoredEvent};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sqlx_core::query::query;
use sqlx_core::query_builder::QueryBuilder;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::row::Row;
use sqlx_mysql::MySql;

use super::row::{datetime, ip_bytes};
use super::store::MySqlStore;
use crate::error::{Error, Result};
use crate::fields::read_row;
use crate::filters::{FilterSql, Select, group, select};
use crate::read::{ReadBackend, audit_store_through_read_backend};

struct MySqlFilters;

impl FilterSql<MySql> for MySqlFilters {
    fn action_prefix(b: &mut QueryBuilder<MySql>, prefix: &str) {
        // `LIKE 'prefix%'` is a range scan of the action index; `!` escapes the prefix's own
        // wildcards (a backslash escape would depend on NO_BACKSLASH_ESCAPES).
        let mut pattern = String::with_capacity(prefix.len() + 1);
        for c in prefix.chars() {
            if matches!(c, '!' | '%' | '_') {
                pattern.push('!');
            }
            pattern.push(c);
        }
        pattern.push('%');
        b.push("action LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '!'");
    }

    fn ip_in(b: &mut QueryBuilder<MySql>, net: IpNet) {
        // One range of the ip index (where the server finds that cheaper than a walk of the
        // newest rows); the length test keeps IPv6 rows whose first four bytes
        // fall in an IPv4 range out (and the reverse).
        let first = ip_bytes(net.network());
        let last = ip_bytes(net.broadcast());
        let len = first.len() as i64;
        b.push("ip BETWEEN ")
            .push_bind(first)
            .push(" AND ")
            .push_bind(last)
            .push(" AND LENGTH(ip) = ")
            .push_bind(len);
    }

    fn description_contains(b: &mut QueryBuilder<MySql>, needle: &str) {
        // A binary collation makes LOCATE a plain, case-sensitive substring test.
        b.push("LOCATE(")
            .push_bind(needle.to_owned())
            .push(", description) > 0");
    }

    fn changed(b: &mut QueryBuilder<MySql>, path: &str) {
        // The metadata column is JSON text; JSON_CONTAINS reads it (NULL, so false, where the
        // event has no change set).
        b.push("(");
        for (i, list) in ["added", "removed", "changed"].iter().enumerate() {
            if i > 0 {
                b.push(" OR ");
            }
            b.push("JSON_CONTAINS(metadata, JSON_QUOTE(")
                .push_bind(path.to_owned())
                .push(format_args!("), '$.changes.{list}')"));
        }
        b.push(")");
    }

    fn time(b: &mut QueryBuilder<MySql>, at: DateTime<Utc>) {
        b.push_bind(datetime(at));
    }

    // DATETIME holds UTC: the date part is the UTC day.
    const DAY: &'static str = "DATE_FORMAT(occurred_at, '%Y-%m-%d')";
}

fn corrupt_hash(seq: u64, bytes: &[u8]) -> Result<ChainHash> {
    ChainHash::from_slice(bytes).map_err(|err| Error::Corrupt {
        seq,
        message: format!("hash: {err}"),
    })
}

#[async_trait]
impl ReadBackend for MySqlStore {
    fn hasher(&self) -> &ChainHasher {
        &self.inner.hasher
    }

    fn verify_parallelism(&self) -> audit_core::chain::Parallelism {
        self.inner.verify_parallelism
    }

    async fn page(&self, q: &AuditQuery) -> Result<Page> {
        let mut b = select::<_, MySqlFilters>(&self.inner.sql.events, q, Select::Page);
        let mut conn = self.inner.db.acquire().await?;
        let rows = b.build().fetch_all(&mut *conn).await?;
        let events = rows.iter().map(read_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_fetched(events, q.page_size()))
    }

    async fn count(&self, q: &AuditQuery) -> Result<u64> {
        let mut b = select::<_, MySqlFilters>(&self.inner.sql.events, q, Select::Count);
        let mut conn = self.inner.db.acquire().await?;
        let n: i64 = b.build_query_scalar::<i64>().fetch_one(&mut *conn).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn count_groups(&self, q: &AuditQuery, by: CountBy) -> Result<Vec<GroupCount>> {
        let mut b = select::<_, MySqlFilters>(&self.inner.sql.events, q, Select::Groups(by));
        let mut conn = self.inner.db.acquire().await?;
        let rows = b.build().fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|row| Ok(group(row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
        let mut conn = self.inner.db.acquire().await?;
        let row = query::<MySql>(self.inner.sql.get.clone())
            .bind(seq)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(read_row).transpose()
    }

    async fn hash_at(&self, seq: u64) -> Result<Option<ChainHash>> {
        let mut conn = self.inner.db.acquire().await?;
        let hash: Option<Vec<u8>> = query_scalar::<MySql, Vec<u8>>(self.inner.sql.hash_at.clone())
            .bind(seq)
            .fetch_optional(&mut *conn)
            .await?;
        hash.map(|h| corrupt_hash(seq, &h)).transpose()
    }

    async fn retention_anchor(&self) -> Result<Option<ChainAnchor>> {
        let mut conn = self.inner.db.acquire().await?;
        let row = query::<MySql>(self.inner.sql.latest_anchor.clone())
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: u64 = row.try_get(0)?;
        let hash: Vec<u8> = row.try_get(1)?;
        Ok(Some(ChainAnchor {
            seq,
            hash: ChainHash::from_slice(&hash)
                .map_err(|err| Error::Schema(format!("retention anchor: {err}")))?,
        }))
    }

    async fn scan(&self, after: u64, last: u64, limit: u32) -> Result<Vec<Result<StoredEvent>>> {
        let mut conn = self.inner.db.acquire().await?;
        let rows = query::<MySql>(self.inner.sql.scan.clone())
            .bind(after)
            .bind(last)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.iter().map(read_row).collect())
    }

    async fn head_row(&self) -> Result<(u64, ChainHash)> {
        let mut conn = self.inner.db.acquire().await?;
        let row = query::<MySql>(self.inner.sql.head.clone())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| Error::Schema("the chain head row is missing".into()))?;
        let seq: u64 = row.try_get(0)?;
        let hash: Vec<u8> = row.try_get(1)?;
        let hash = ChainHash::from_slice(&hash)
            .map_err(|err| Error::Schema(format!("chain head hash: {err}")))?;
        Ok((seq, hash))
    }
}

audit_store_through_read_backend!(MySqlStore);

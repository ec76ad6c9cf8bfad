//! The read side: [`AuditStore`] for [`PgStore`] (filters, keyset pages, counts, verify, head).

use async_trait::async_trait;
use audit_core::chain::{ChainAnchor, ChainFault, ChainHash, ChainVerifier, Checkpoint, FaultKind};
use audit_core::query::{ActionFilter, AuditQuery, CountBy, GroupCount, Order, Page};
use audit_core::store::VerifyScope;
use audit_core::{AuditStore, StoreError, StoredEvent};
use futures::TryStreamExt;
use sqlx_core::query::query;
use sqlx_core::query_builder::QueryBuilder;
use sqlx_core::row::Row;
use sqlx_postgres::Postgres;

use crate::error::{Error, Result};
use crate::row::stored_event;
use crate::schema::event_columns;
use crate::store::PgStore;

/// Rows fetched per round trip while verifying or exporting: memory stays bounded by this.
pub(crate) const SCAN_BATCH: i64 = 2000;

/// Appends `AND ...` for every filter set in `q` (and the cursor when `with_cursor`).
fn push_filters(b: &mut QueryBuilder<Postgres>, q: &AuditQuery, with_cursor: bool) {
    b.push(" WHERE true");
    if let Some(actor) = &q.actor {
        b.push(" AND actor_id = ").push_bind(actor.clone());
    }
    match &q.action {
        None => {}
        Some(ActionFilter::Exact(code)) => {
            b.push(" AND action = ").push_bind(code.clone());
        }
        Some(ActionFilter::Prefix(prefix)) => {
            b.push(" AND starts_with(action, ")
                .push_bind(prefix.clone())
                .push(")");
        }
    }
    if let Some(category) = q.category {
        b.push(" AND category = ").push_bind(category.as_str());
    }
    if let Some(outcome) = q.outcome {
        b.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some(t) = &q.entity_type {
        b.push(" AND entity_type = ").push_bind(t.clone());
    }
    if let Some(id) = &q.entity_id {
        b.push(" AND entity_id = ").push_bind(id.clone());
    }
    if let Some(since) = q.since {
        b.push(" AND occurred_at >= ").push_bind(since);
    }
    if let Some(until) = q.until {
        b.push(" AND occurred_at < ").push_bind(until);
    }
    if let Some(net) = q.ip_net {
        // inet containment; an IPv4 network never contains an IPv6 address, as in ipnet.
        b.push(" AND ip <<= ").push_bind(net).push("::inet");
    }
    if let Some(r) = &q.request_id {
        b.push(" AND request_id = ").push_bind(r.clone());
    }
    if let Some(t) = &q.tenant {
        b.push(" AND tenant = ").push_bind(t.clone());
    }
    if let Some(needle) = &q.description_contains {
        // strpos: a plain substring test, no LIKE wildcards to escape.
        b.push(" AND strpos(description, ")
            .push_bind(needle.clone())
            .push(") > 0");
    }
    if let (true, Some(cursor)) = (with_cursor, q.cursor) {
        {
            let after = i64::try_from(cursor.seq()).unwrap_or(i64::MAX);
            match q.order {
                Order::NewestFirst => b.push(" AND seq < ").push_bind(after),
                Order::OldestFirst => b.push(" AND seq > ").push_bind(after),
            };
        }
    }
}

impl PgStore {
    pub(crate) async fn query_page(&self, q: &AuditQuery) -> Result<Page> {
        let size = q.page_size();
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT {} FROM {}",
            event_columns(),
            self.inner.sql.events
        ));
        push_filters(&mut b, q, true);
        b.push(match q.order {
            Order::NewestFirst => " ORDER BY seq DESC",
            Order::OldestFirst => " ORDER BY seq ASC",
        });
        b.push(" LIMIT ").push_bind(i64::from(size) + 1);
        let rows = b.build().fetch_all(&self.inner.pool).await?;
        let events = rows.iter().map(stored_event).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_fetched(events, size))
    }

    pub(crate) async fn count_matching(&self, q: &AuditQuery) -> Result<u64> {
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT count(*) FROM {}",
            self.inner.sql.events
        ));
        push_filters(&mut b, q, false);
        let n: i64 = b
            .build_query_scalar::<i64>()
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn count_grouped(
        &self,
        q: &AuditQuery,
        by: CountBy,
    ) -> Result<Vec<GroupCount>> {
        let key = match by {
            CountBy::Action => "action",
            CountBy::Actor => "COALESCE(actor_id, '')",
            CountBy::Outcome => "outcome",
            CountBy::Category => "category",
            CountBy::Day => "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        };
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT {key} AS k, count(*) FROM {}",
            self.inner.sql.events
        ));
        push_filters(&mut b, q, false);
        b.push(" GROUP BY 1");
        let rows = b.build().fetch_all(&self.inner.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: String = row.try_get(0)?;
            let count: i64 = row.try_get(1)?;
            out.push(GroupCount {
                key,
                count: u64::try_from(count).unwrap_or(0),
            });
        }
        // Sorted by the key's bytes, whatever the database collation.
        out.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        Ok(out)
    }

    /// Looks up one record by seq.
    pub async fn get_event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let row = query::<Postgres>(self.inner.sql.get.clone())
            .bind(seq)
            .fetch_optional(&self.inner.pool)
            .await?;
        row.as_ref().map(stored_event).transpose()
    }

    /// The newest retention anchor (where purged history ended), if any.
    pub async fn retention_anchor(&self) -> Result<Option<ChainAnchor>> {
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

    async fn hash_at(&self, seq: u64) -> Result<Option<ChainHash>> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let hash: Option<Vec<u8>> = sqlx_core::query_scalar::query_scalar::<Postgres, Vec<u8>>(
            self.inner.sql.hash_at.clone(),
        )
        .bind(seq)
        .fetch_optional(&self.inner.pool)
        .await?;
        hash.map(|h| {
            ChainHash::from_slice(&h).map_err(|err| Error::Corrupt {
                seq: seq as u64,
                message: format!("hash: {err}"),
            })
        })
        .transpose()
    }

    /// Where verification of `scope` starts and the last seq it covers.
    async fn verify_bounds(&self, scope: VerifyScope) -> Result<(ChainAnchor, u64)> {
        Ok(match scope {
            VerifyScope::All => (
                self.retention_anchor()
                    .await?
                    .unwrap_or(ChainAnchor::GENESIS),
                i64::MAX as u64,
            ),
            VerifyScope::After(anchor) => (anchor, i64::MAX as u64),
            VerifyScope::Range { from, to } => {
                if from == 0 || from > to {
                    return Err(Error::InvalidRequest(format!(
                        "verify range {from}..={to}: need 1 <= from <= to"
                    )));
                }
                let before = from - 1;
                let anchor = if before == 0 {
                    ChainAnchor::GENESIS
                } else if let Some(hash) = self.hash_at(before).await? {
                    ChainAnchor { seq: before, hash }
                } else if let Some(anchor) =
                    self.retention_anchor().await?.filter(|a| a.seq == before)
                {
                    anchor
                } else {
                    return Err(Error::InvalidRequest(format!(
                        "verify range starts at {from}, but record {before} is not stored \
                         (purged or never written); verify from the retention anchor instead"
                    )));
                };
                (anchor, to)
            }
        })
    }

    /// Streams the records of `scope` through a [`ChainVerifier`], 2000 rows at a
    /// time, so memory stays constant whatever the chain's length.
    pub async fn verify_chain(
        &self,
        scope: VerifyScope,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<audit_core::chain::VerifyReport> {
        let (anchor, last) = self.verify_bounds(scope).await?;
        let mut verifier = ChainVerifier::from_anchor(self.inner.hasher.clone(), anchor)
            .with_checkpoint(checkpoint);
        let mut after = anchor.seq;
        let mut undecodable: Option<ChainFault> = None;
        'scan: loop {
            let mut rows = query::<Postgres>(self.inner.sql.scan.clone())
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::try_from(last).unwrap_or(i64::MAX))
                .bind(SCAN_BATCH)
                .fetch(&self.inner.pool);
            let mut fetched = 0;
            while let Some(row) = rows.try_next().await? {
                fetched += 1;
                let record = match stored_event(&row) {
                    Ok(record) => record,
                    Err(Error::Corrupt { seq, message }) => {
                        // A row that no longer decodes was altered outside the library.
                        undecodable = Some(ChainFault {
                            seq,
                            kind: FaultKind::Modified,
                            detail: format!("record cannot be decoded: {message}"),
                        });
                        break 'scan;
                    }
                    Err(other) => return Err(other),
                };
                after = record.seq;
                if verifier.push(&record).is_err() {
                    break 'scan;
                }
            }
            if fetched < SCAN_BATCH {
                break;
            }
        }
        let mut report = verifier.finish(None);
        if report.fault.is_none() {
            report.fault = undecodable;
        }
        Ok(report)
    }

    /// The chain head (covers purged history too), as a checkpoint to keep elsewhere.
    pub async fn chain_head(&self) -> Result<Option<Checkpoint>> {
        let row = query::<Postgres>(self.inner.sql.head.clone())
            .fetch_optional(&self.inner.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get(0)?;
        let hash: Vec<u8> = row.try_get(1)?;
        if seq <= 0 {
            return Ok(None);
        }
        Ok(Some(Checkpoint {
            seq: seq as u64,
            hash: ChainHash::from_slice(&hash)
                .map_err(|err| Error::Schema(format!("chain head hash: {err}")))?,
            taken_at: audit_core::event::now_micros(),
        }))
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn query(&self, query: &AuditQuery) -> Result<Page, StoreError> {
        Ok(self.query_page(query).await?)
    }

    async fn count(&self, query: &AuditQuery) -> Result<u64, StoreError> {
        Ok(self.count_matching(query).await?)
    }

    async fn count_by(
        &self,
        query: &AuditQuery,
        by: CountBy,
    ) -> Result<Vec<GroupCount>, StoreError> {
        Ok(self.count_grouped(query, by).await?)
    }

    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.get_event(seq).await?)
    }

    async fn verify(
        &self,
        scope: VerifyScope,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<audit_core::chain::VerifyReport, StoreError> {
        Ok(self.verify_chain(scope, checkpoint).await?)
    }

    async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.chain_head().await?)
    }
}

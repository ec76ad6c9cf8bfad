//! Appending to the chain: one transaction that locks the head row, links the batch, inserts
//! it (binary `COPY` or `UNNEST`) and moves the head.

use std::collections::HashMap;
use std::net::IpAddr;

use audit_core::chain::ChainHash;
use audit_core::{ChainHasher, ChainPosition};
use chrono::{DateTime, Utc};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, Postgres};
use uuid::Uuid;

use super::encode::copy_binary;
use super::schema::Sql;
use crate::error::{Error, Result};
use crate::fields::{FieldSink, write_fields};
use crate::link::{Head, Linked};
use crate::prepared::{Chained, Prepared};

/// Whether [`append`] looks up the batch's ids before inserting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdCheck {
    /// Look them up: stored ones are acknowledged with their stored positions.
    First,
    /// Insert straight away; a stored id fails the transaction with a unique violation
    /// ([`is_duplicate_key`](crate::retry::is_duplicate_key)).
    OnConflict,
}

/// How a batch travels to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InsertMode {
    /// Binary `COPY ... FROM STDIN`: the fastest path measured here (the default).
    #[default]
    Copy,
    /// One `INSERT ... SELECT * FROM UNNEST($1::bigint[], ...)` with array parameters.
    Unnest,
}

/// Links `rows` after the current head and inserts them; returns each row's position, in
/// order. Must run inside a transaction: the head row stays locked until that transaction
/// ends, which is what serialises all writers (threads, processes, machines) onto one
/// gap-free chain.
///
/// Rows whose event id is already stored (a batch retried after a commit whose
/// acknowledgement was lost, a spool replayed twice) are not stored again: they are
/// acknowledged with their stored position. The same id twice in one batch counts once.
///
/// With [`IdCheck::OnConflict`] the ids are not looked up first: a batch holding a stored id
/// then fails with a unique violation and must be retried in a new transaction with
/// [`IdCheck::First`]. Replays are rare, and the lookup (one index probe per event under the
/// head lock) was the largest cost of an append beside the raw `COPY`.
pub(crate) async fn append(
    conn: &mut PgConnection,
    sql: &Sql,
    hasher: &ChainHasher,
    mode: InsertMode,
    rows: &mut [Prepared],
    ids: IdCheck,
) -> Result<Vec<ChainPosition>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let place = format!("schema {}", sql.schema);
    let row = query::<Postgres>(sql.lock_head.clone())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::Schema("the chain head row is missing".into()))?;
    let head_seq: i64 = row.try_get(0)?;
    let head_hash: Vec<u8> = row.try_get(1)?;
    let algorithm: Option<String> = row.try_get(2)?;
    let head_seq = u64::try_from(head_seq)
        .map_err(|_| Error::Schema(format!("chain head seq {head_seq} is negative")))?;
    let head = Head::from_row(head_seq, &head_hash, algorithm.as_deref(), hasher, &place)?;

    let stored = match ids {
        IdCheck::First => stored_positions(conn, sql, rows).await?,
        IdCheck::OnConflict => HashMap::new(),
    };
    let linked = Linked::new(rows, hasher, head, head.seq + 1, stored, &place);
    if linked.is_empty() {
        return Ok(linked.positions);
    }
    let chained = linked.rows(rows);
    match mode {
        InsertMode::Copy => {
            let data = copy_binary(&chained);
            let mut copy = conn.copy_in_raw(sql.copy_in.as_str()).await?;
            if let Err(err) = copy.send(data).await {
                // Abort so the connection is left usable; the transaction rolls back anyway.
                let _ = copy.abort("audit-sqlx: send failed").await;
                return Err(err.into());
            }
            copy.finish().await?;
        }
        InsertMode::Unnest => insert_unnest(conn, sql, &chained).await?,
    }

    let new_seq = i64::try_from(linked.head.seq)
        .map_err(|_| Error::Schema("chain seq exceeds i64::MAX".into()))?;
    query::<Postgres>(sql.set_head.clone())
        .bind(new_seq)
        .bind(linked.head.hash.as_bytes().to_vec())
        .bind(hasher.algorithm().as_str())
        .execute(&mut *conn)
        .await?;
    Ok(linked.positions)
}

/// The stored positions of the batch's ids that are already in the chain (one unique-index
/// probe each, under the head lock).
async fn stored_positions(
    conn: &mut PgConnection,
    sql: &Sql,
    rows: &[Prepared],
) -> Result<HashMap<Uuid, ChainPosition>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.event.id).collect();
    let found = query::<Postgres>(sql.find_ids.clone())
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
    let mut known = HashMap::with_capacity(found.len());
    for row in found {
        let id: Uuid = row.try_get(0)?;
        let at: i64 = row.try_get(1)?;
        let hash: Vec<u8> = row.try_get(2)?;
        let hash = ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
            seq: at as u64,
            message: format!("hash: {err}"),
        })?;
        known.insert(
            id,
            ChainPosition {
                seq: at as u64,
                hash,
            },
        );
    }
    Ok(known)
}

/// The batch as one array per column (`UNNEST`'s parameters).
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    at: Vec<DateTime<Utc>>,
    /// The text columns, in table order; `next_text` says which one the walk is at.
    texts: Vec<Vec<Option<String>>>,
    next_text: usize,
    ip: Vec<Option<IpAddr>>,
    metadata: Vec<String>,
    hashes: [Vec<Vec<u8>>; 2],
    next_hash: usize,
}

impl FieldSink for Columns {
    fn seq(&mut self, seq: u64) {
        self.seq.push(seq as i64);
        self.next_text = 0;
        self.next_hash = 0;
    }

    fn id(&mut self, id: &Uuid) {
        self.id.push(*id);
    }

    fn time(&mut self, at: &DateTime<Utc>) {
        self.at.push(*at);
    }

    fn text(&mut self, text: Option<&str>) {
        if self.texts.len() <= self.next_text {
            self.texts.push(Vec::new());
        }
        self.texts[self.next_text].push(text.map(str::to_owned));
        self.next_text += 1;
    }

    fn ip(&mut self, ip: Option<IpAddr>) {
        self.ip.push(ip);
    }

    fn json(&mut self, json: &str) {
        self.metadata.push(json.to_owned());
    }

    fn hash(&mut self, hash: &ChainHash) {
        self.hashes[self.next_hash].push(hash.as_bytes().to_vec());
        self.next_hash += 1;
    }
}

async fn insert_unnest(conn: &mut PgConnection, sql: &Sql, rows: &[Chained<'_>]) -> Result<()> {
    let mut c = Columns::default();
    for r in rows {
        write_fields(r, &mut c);
    }
    let Columns {
        seq,
        id,
        at,
        texts,
        ip,
        metadata,
        hashes: [prev_hash, hash],
        ..
    } = c;
    let mut texts = texts.into_iter();
    let mut text = || texts.next().unwrap_or_default();
    // Table order: seq, id, occurred_at, 9 text columns, ip, 5 text columns, metadata, hashes.
    let mut q = query::<Postgres>(sql.insert_unnest.clone())
        .bind(seq)
        .bind(id)
        .bind(at);
    for _ in 0..9 {
        q = q.bind(text());
    }
    q = q.bind(ip);
    for _ in 0..5 {
        q = q.bind(text());
    }
    q.bind(metadata)
        .bind(prev_hash)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

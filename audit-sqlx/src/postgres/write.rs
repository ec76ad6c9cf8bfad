//! Appending to the chain: one transaction that locks the head row, links the batch, moves
//! the head, inserts the batch (binary `COPY` or `UNNEST`) and its Merkle tree rows.

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
use super::tree;
use crate::append::{Check, first_free_seq};
use crate::error::{Error, Result};
use crate::link::{Head, Linked};
use crate::prepared::{Chained, Prepared};
use crate::tree::{TreeOut, TreeState};
use audit_core::fields::{Field, FieldKind, FieldValue};
use serde_json::Value;
use sqlx_core::types::Json;

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
/// What is checked first is `check`'s (see [`Check`]).
pub(crate) async fn append(
    conn: &mut PgConnection,
    sql: &Sql,
    hasher: &ChainHasher,
    mode: InsertMode,
    rows: &mut [Prepared],
    check: Check,
    tree: &mut TreeOut<'_>,
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
    let frontier: Option<Vec<u8>> = row.try_get(3)?;
    let checkpoint_size: i64 = row.try_get(4)?;
    let head_seq = u64::try_from(head_seq)
        .map_err(|_| Error::Schema(format!("chain head seq {head_seq} is negative")))?;
    let head = Head::from_row(head_seq, &head_hash, algorithm.as_deref(), hasher, &place)?;

    let (stored, first_seq) = match check {
        Check::Nothing => (HashMap::new(), head.seq + 1),
        Check::Stored => {
            let max: Option<i64> =
                sqlx_core::query_scalar::query_scalar::<Postgres, Option<i64>>(sql.max_seq.clone())
                    .fetch_one(&mut *conn)
                    .await?;
            let max = max.and_then(|m| u64::try_from(m).ok());
            (
                stored_positions(conn, sql, rows).await?,
                first_free_seq(head, max, &place),
            )
        }
    };
    let linked = Linked::new(rows, hasher, head, first_seq, stored, &place);
    if linked.is_empty() {
        return Ok(linked.positions);
    }
    let chained = linked.rows(rows);
    // The tree in the same transaction, under the same lock: it cannot disagree with the
    // chain. Rows beyond the head that were not written through it get their leaves too, so
    // leaf indexes stay seqs.
    let mut state = TreeState::decode(
        head.seq,
        frontier,
        u64::try_from(checkpoint_size).unwrap_or(0),
    )?;
    let mut leaves = Vec::with_capacity(chained.len());
    if state.size().is_some() && first_seq > head.seq + 1 {
        leaves = tree::leaves_between(conn, sql, head.seq, first_seq - 1).await?;
    }
    leaves.extend(chained.iter().map(|c| c.row.leaf));
    let tree_rows = state.extend(leaves.into_iter());

    // The head moves first: the events table refuses rows beyond the head (a trigger), so
    // only a transaction that holds and moves the head can add to the chain.
    let new_seq = i64::try_from(linked.head.seq)
        .map_err(|_| Error::Schema("chain seq exceeds i64::MAX".into()))?;
    query::<Postgres>(sql.set_head.clone())
        .bind(new_seq)
        .bind(linked.head.hash.as_bytes().to_vec())
        .bind(hasher.algorithm().as_str())
        .bind(state.encoded())
        .execute(&mut *conn)
        .await?;

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
    tree::insert_rows(conn, sql, &tree_rows).await?;
    if let Some(policy) = tree.policy
        && let Some(signed) = state.sign_if_due(policy, false)?
    {
        tree::store_checkpoint(conn, sql, &signed).await?;
        tree.signed = Some(signed);
    }
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

/// One column of an `UNNEST` insert, as an array parameter.
enum Column<'a> {
    Id(Vec<Uuid>),
    Time(Vec<DateTime<Utc>>),
    Text(Vec<Option<&'a str>>),
    Ip(Vec<Option<IpAddr>>),
    Json(Vec<Json<&'a Value>>),
}

impl<'a> Column<'a> {
    fn new(kind: FieldKind, n: usize) -> Self {
        match kind {
            FieldKind::Id => Column::Id(Vec::with_capacity(n)),
            FieldKind::Time => Column::Time(Vec::with_capacity(n)),
            FieldKind::Text { .. } => Column::Text(Vec::with_capacity(n)),
            FieldKind::Ip => Column::Ip(Vec::with_capacity(n)),
            FieldKind::Json => Column::Json(Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, field: Field, value: FieldValue<'a>) -> Result<()> {
        match (self, value) {
            (Column::Id(v), FieldValue::Id(id)) => v.push(*id),
            (Column::Time(v), FieldValue::Time(at)) => v.push(at),
            (Column::Text(v), FieldValue::Text(text)) => v.push(text),
            (Column::Ip(v), FieldValue::Ip(ip)) => v.push(ip),
            (Column::Json(v), FieldValue::Json(json)) => v.push(Json(json)),
            // Unreachable while `Field::kind` describes `Field::value` (audit-core tests it);
            // refused rather than skipped, as `UNNEST` would pad a short array with NULLs.
            _ => {
                return Err(Error::Schema(format!(
                    "{} holds a value of another kind than its column",
                    field.name()
                )));
            }
        }
        Ok(())
    }
}

async fn insert_unnest(conn: &mut PgConnection, sql: &Sql, rows: &[Chained<'_>]) -> Result<()> {
    let n = rows.len();
    let mut seq = Vec::with_capacity(n);
    let mut columns: Vec<Column<'_>> = Field::ALL
        .iter()
        .map(|f| Column::new(f.kind(), n))
        .collect();
    let mut prev_hash = Vec::with_capacity(n);
    let mut hash = Vec::with_capacity(n);
    for r in rows {
        seq.push(r.seq as i64);
        for (column, field) in columns.iter_mut().zip(Field::ALL) {
            column.push(field, field.value(&r.row.event))?;
        }
        prev_hash.push(r.prev_hash.as_bytes().to_vec());
        hash.push(r.hash.as_bytes().to_vec());
    }
    let mut insert = query::<Postgres>(sql.insert_unnest.clone()).bind(seq);
    for column in columns {
        insert = match column {
            Column::Id(v) => insert.bind(v),
            Column::Time(v) => insert.bind(v),
            Column::Text(v) => insert.bind(v),
            Column::Ip(v) => insert.bind(v),
            Column::Json(v) => insert.bind(v),
        };
    }
    insert
        .bind(prev_hash)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

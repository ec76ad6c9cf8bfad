//! Appending to the chain: one transaction that locks the head row, links the batch, inserts
//! it and its Merkle tree rows with multi-row `INSERT`s and moves the head.
//!
//! Not `LOAD DATA LOCAL INFILE`: the sqlx MySQL driver does not implement the client side of
//! that exchange (it neither announces `CLIENT_LOCAL_FILES` nor answers the server's file
//! request), so multi-row `INSERT` with bound parameters is the batched path available.

use std::collections::HashMap;

use audit_core::chain::ChainHash;
use audit_core::{ChainHasher, ChainPosition};
use sqlx_core::query::{query, query_with};
use sqlx_core::query_builder::QueryBuilder;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::{MySql, MySqlConnection};
use uuid::Uuid;

use super::names::Sql;
use super::row::Binder;
use super::tree;
use crate::append::{Check, first_free_seq};
use crate::error::{Error, Result};
use crate::fields::{EVENT_COLUMN_COUNT, write_columns};
use crate::link::{Head, Linked};
use crate::prepared::{Chained, Prepared};
use crate::tree::{TreeOut, TreeState};

/// Placeholders per statement are limited to 65 535; statements to `max_allowed_packet`
/// (16 MiB by default on MariaDB): a chunk stays below both.
const MAX_ROWS_PER_INSERT: usize = 65_535 / EVENT_COLUMN_COUNT;
const MAX_BYTES_PER_INSERT: usize = 4 << 20;

/// Links `rows` after the current head and inserts them; returns each row's position, in
/// order. Must run inside a transaction: the head row stays locked until it ends, which is
/// what serialises all writers (threads, processes, machines) onto one gap-free chain.
pub(crate) async fn append(
    conn: &mut MySqlConnection,
    sql: &Sql,
    hasher: &ChainHasher,
    rows: &mut [Prepared],
    check: Check,
    tree: &mut TreeOut<'_>,
) -> Result<Vec<ChainPosition>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (head, mut state) = lock_head_and_tree(conn, sql, hasher).await?;
    let (stored, first_seq) = match check {
        Check::Nothing => (HashMap::new(), head.seq + 1),
        Check::Stored => (
            stored_positions(conn, sql, rows).await?,
            free_seq(conn, sql, head).await?,
        ),
    };
    let linked = Linked::new(rows, hasher, head, first_seq, stored, &sql.names);
    if linked.is_empty() {
        return Ok(linked.positions);
    }
    let chained = linked.rows(rows);
    // The tree in the same transaction, under the same lock; rows beyond the head that were
    // not written through it get their leaves too, so leaf indexes stay seqs.
    let mut leaves = Vec::with_capacity(chained.len());
    if state.size().is_some() && first_seq > head.seq + 1 {
        leaves = tree::leaves_between(conn, sql, head.seq, first_seq - 1).await?;
    }
    leaves.extend(chained.iter().map(|c| c.row.leaf));
    let tree_rows = state.extend(leaves.into_iter());
    insert(conn, sql, &chained).await?;
    tree::insert_rows(conn, sql, &tree_rows).await?;
    query::<MySql>(sql.set_head.clone())
        .bind(linked.head.seq)
        .bind(linked.head.hash.as_bytes().as_slice())
        .bind(hasher.algorithm().as_str())
        .bind(state.encoded())
        .execute(&mut *conn)
        .await?;
    if let Some(policy) = tree.policy
        && let Some(signed) = state.sign_if_due(policy, false)?
    {
        tree::store_checkpoint(conn, sql, &signed).await?;
        tree.signed = Some(signed);
    }
    Ok(linked.positions)
}

/// Locks the chain head row for the rest of the transaction and reads it.
pub(crate) async fn lock_head(
    conn: &mut MySqlConnection,
    sql: &Sql,
    hasher: &ChainHasher,
) -> Result<Head> {
    Ok(lock_head_and_tree(conn, sql, hasher).await?.0)
}

/// Locks the chain head and tree head rows for the rest of the transaction and reads them.
pub(crate) async fn lock_head_and_tree(
    conn: &mut MySqlConnection,
    sql: &Sql,
    hasher: &ChainHasher,
) -> Result<(Head, TreeState)> {
    let row = query::<MySql>(sql.lock_head.clone())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::Schema(format!("the chain head row of {} is missing", sql.names)))?;
    let seq: u64 = row.try_get(0)?;
    let hash: Vec<u8> = row.try_get(1)?;
    let algorithm: Option<String> = row.try_get(2)?;
    let head = Head::from_row(seq, &hash, algorithm.as_deref(), hasher, &sql.names)?;
    let state = TreeState::decode(seq, row.try_get(3)?, row.try_get(4)?)?;
    Ok((head, state))
}

/// The first seq after every stored row (see [`first_free_seq`]).
async fn free_seq(conn: &mut MySqlConnection, sql: &Sql, head: Head) -> Result<u64> {
    let max: Option<u64> = query_scalar::<MySql, Option<u64>>(sql.max_seq.clone())
        .fetch_one(&mut *conn)
        .await?;
    Ok(first_free_seq(head, max, &sql.names))
}

/// The stored positions of the batch's ids that are already in the table.
async fn stored_positions(
    conn: &mut MySqlConnection,
    sql: &Sql,
    rows: &[Prepared],
) -> Result<HashMap<Uuid, ChainPosition>> {
    let mut known = HashMap::new();
    for chunk in rows.chunks(1000) {
        let mut b = QueryBuilder::<MySql>::new(format!(
            "SELECT id, seq, hash FROM {} WHERE id IN (",
            sql.events
        ));
        let mut ids = b.separated(", ");
        for row in chunk {
            ids.push_bind(row.event.id);
        }
        b.push(")");
        for row in b.build().fetch_all(&mut *conn).await? {
            let id: Uuid = row.try_get(0)?;
            let seq: u64 = row.try_get(1)?;
            let hash: Vec<u8> = row.try_get(2)?;
            let hash = ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
                seq,
                message: format!("hash: {err}"),
            })?;
            known.insert(id, ChainPosition { seq, hash });
        }
    }
    Ok(known)
}

/// A rough size of a row's parameters, to keep statements below `max_allowed_packet`.
fn row_bytes(row: &Chained<'_>) -> usize {
    let e = &row.row.event;
    let texts = [
        e.reason.as_deref(),
        e.actor.as_ref().map(|a| a.id.as_str()),
        e.entity_type.as_deref(),
        e.entity_id.as_deref(),
        e.description.as_deref(),
        e.user_agent.as_deref(),
        e.request_id.as_deref(),
        e.session_id.as_deref(),
        e.tenant.as_deref(),
    ];
    256 + e.action.len()
        + row.row.metadata_json.len()
        + texts.iter().map(|t| t.map_or(0, str::len)).sum::<usize>()
}

/// Inserts `rows` with as few multi-row `INSERT`s as the limits allow.
async fn insert(conn: &mut MySqlConnection, sql: &Sql, rows: &[Chained<'_>]) -> Result<()> {
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len() && end - start < MAX_ROWS_PER_INSERT {
            bytes += row_bytes(&rows[end]);
            if bytes > MAX_BYTES_PER_INSERT && end > start {
                break;
            }
            end += 1;
        }
        insert_chunk(conn, sql, &rows[start..end]).await?;
        start = end;
    }
    Ok(())
}

/// The `(?, ?, ...)` group of one row.
fn row_group() -> String {
    let mut group = String::with_capacity(EVENT_COLUMN_COUNT * 3 + 2);
    group.push('(');
    for i in 0..EVENT_COLUMN_COUNT {
        if i > 0 {
            group.push_str(", ");
        }
        group.push('?');
    }
    group.push(')');
    group
}

async fn insert_chunk(conn: &mut MySqlConnection, sql: &Sql, rows: &[Chained<'_>]) -> Result<()> {
    let group = row_group();
    let mut text = String::with_capacity(sql.insert_prefix.len() + rows.len() * (group.len() + 2));
    text.push_str(&sql.insert_prefix);
    let mut binder = Binder::default();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(&group);
        write_columns(row, &mut binder);
    }
    if let Some(err) = binder.error {
        return Err(Error::Database(sqlx_core::Error::Encode(err)));
    }
    query_with::<MySql, _>(AssertSqlSafe(text), binder.args)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

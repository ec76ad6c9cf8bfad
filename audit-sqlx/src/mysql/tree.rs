//! The Merkle tree and signed checkpoints in MySQL/MariaDB (what is shared is in
//! [`crate::tree`]): `<prefix>tree` (one `VARBINARY` of stored hashes per seq),
//! `<prefix>checkpoints`, and `<prefix>tree_head` (the frontier and the newest checkpoint's
//! size), locked and updated together with the chain head row.

use std::collections::HashSet;

use async_trait::async_trait;
use audit_core::chain::ChainHash;
use audit_core::tlog::{CheckpointPolicy, Frontier, SignedCheckpoint, TreeRow};
use sqlx_core::connection::Connection;
use sqlx_core::query::query;
use sqlx_core::query_builder::QueryBuilder;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::{MySql, MySqlConnection};

use super::names::Sql;
use super::store::MySqlStore;
use crate::error::{Error, Result};
use crate::fields::read_row;
use crate::read::SCAN_BATCH;
use crate::retry::is_duplicate_key;
use crate::tree::{
    TreeBackend, TreeState, parse_checkpoint, parse_row, push_stored_leaf,
    transparency_log_through_tree_backend,
};

/// Rows per multi-row `INSERT` of tree rows (each at most 2 KiB).
const TREE_ROWS_PER_INSERT: usize = 1000;

/// Inserts the stored-hash rows of one append.
///
/// A row already at one of these seqs was not written through the chain head: only a user
/// with `INSERT` on the tree table (the application's) can put it there, and it can neither
/// be replaced nor removed (triggers, grants). It is left in place for verification to report
/// (as a changed tree row) and the others go in, so that one forged row does not stop every
/// later write. MySQL undoes only the failed statement, so the transaction goes on; the check
/// costs nothing until such a row is met (a trigger checking each row against the head cost
/// more than the insert itself, measured).
pub(crate) async fn insert_rows(
    conn: &mut MySqlConnection,
    sql: &Sql,
    rows: &[TreeRow],
) -> Result<()> {
    match insert_chunks(conn, sql, rows).await {
        Err(err) if is_duplicate_key(&err) => {
            let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                return Err(err);
            };
            let taken: HashSet<u64> = query_scalar::<MySql, u64>(AssertSqlSafe(format!(
                "SELECT seq FROM {} WHERE seq >= ? AND seq <= ?",
                sql.tree
            )))
            .bind(first.seq)
            .bind(last.seq)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
            let rest: Vec<TreeRow> = rows
                .iter()
                .filter(|row| !taken.contains(&row.seq))
                .cloned()
                .collect();
            tracing::error!(
                store = %sql.names,
                seqs = ?rows.iter().filter(|r| taken.contains(&r.seq)).map(|r| r.seq).collect::<Vec<_>>(),
                "audit-sqlx: Merkle tree rows not written through the chain head were found at \
                 the seqs of new events; they are left in place (verification reports them) \
                 and the write goes on"
            );
            insert_chunks(conn, sql, &rest).await
        }
        other => other,
    }
}

async fn insert_chunks(conn: &mut MySqlConnection, sql: &Sql, rows: &[TreeRow]) -> Result<()> {
    for chunk in rows.chunks(TREE_ROWS_PER_INSERT) {
        let mut b = QueryBuilder::<MySql>::new(format!("INSERT INTO {} (seq, hashes) ", sql.tree));
        b.push_values(chunk, |mut r, row| {
            r.push_bind(row.seq).push_bind(row.to_bytes());
        });
        b.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The leaves of the stored events with `after < seq <= last`, read on `conn` (inside the
/// append's or the migration's transaction), a page at a time.
pub(crate) async fn leaves_between(
    conn: &mut MySqlConnection,
    sql: &Sql,
    after: u64,
    last: u64,
) -> Result<Vec<ChainHash>> {
    let mut leaves = Vec::new();
    let mut at = after;
    while at < last {
        let page = query::<MySql>(sql.scan.clone())
            .bind(at)
            .bind(last)
            .bind(SCAN_BATCH)
            .fetch_all(&mut *conn)
            .await?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            let seq: u64 = row.try_get(0)?;
            push_stored_leaf(&mut leaves, &mut at, seq, read_row(row), &sql.names)?;
        }
    }
    Ok(leaves)
}

/// Stores a signed checkpoint and its size in the tree head row; the head lock must be held.
pub(crate) async fn store_checkpoint(
    conn: &mut MySqlConnection,
    sql: &Sql,
    checkpoint: &SignedCheckpoint,
) -> Result<()> {
    let size = checkpoint.head().size;
    query::<MySql>(AssertSqlSafe(format!(
        "INSERT IGNORE INTO {} (tree_size, root, note) VALUES (?, ?, ?)",
        sql.checkpoints
    )))
    .bind(size)
    .bind(checkpoint.head().root.as_bytes().as_slice())
    .bind(checkpoint.as_str())
    .execute(&mut *conn)
    .await?;
    query::<MySql>(AssertSqlSafe(format!(
        "UPDATE {} SET checkpoint_size = ? WHERE singleton = 1",
        sql.tree_head
    )))
    .bind(size)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The migration step to schema version 2: the tree of the events already stored, built in
/// one transaction under the head lock (so it can run again after a failure: a tree already
/// built is left alone). A log that already purged a prefix cannot get a tree (the purged
/// events are gone); it keeps working without one.
pub(crate) async fn build(conn: &mut MySqlConnection, sql: &Sql) -> Result<()> {
    let mut tx = conn.begin().await?;
    let head = query::<MySql>(sql.lock_head.clone())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::Schema(format!("the chain head row of {} is missing", sql.names)))?;
    let frontier: Option<Vec<u8>> = head.try_get(3)?;
    if frontier.is_some() {
        tx.commit().await?;
        return Ok(());
    }
    let purged: i64 = query_scalar::<MySql, i64>(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {}",
        sql.anchors
    )))
    .fetch_one(&mut *tx)
    .await?;
    if purged > 0 {
        tracing::warn!(
            store = %sql.names,
            "audit-sqlx: this log purged events before it had a Merkle tree; it keeps \
             working with its hash chain, without a tree, proofs or signed checkpoints"
        );
        tx.commit().await?;
        return Ok(());
    }
    let last: Option<u64> = query_scalar::<MySql, Option<u64>>(sql.max_seq.clone())
        .fetch_one(&mut *tx)
        .await?;
    let last = last.unwrap_or(0);
    let mut state = TreeState {
        frontier: Some(Frontier::new()),
        checkpoint_size: 0,
    };
    let mut at = 0;
    while at < last {
        let upto = last.min(at + u64::from(SCAN_BATCH) * 5);
        let leaves = leaves_between(&mut tx, sql, at, upto).await?;
        let rows = state.extend(leaves.into_iter());
        insert_rows(&mut tx, sql, &rows).await?;
        at = state.size().unwrap_or(upto);
        if at < upto {
            return Err(Error::Schema(format!(
                "a gap after seq {at} in {}: the Merkle tree cannot be built (verify the chain)",
                sql.names
            )));
        }
    }
    query::<MySql>(AssertSqlSafe(format!(
        "UPDATE {} SET frontier = ? WHERE singleton = 1",
        sql.tree_head
    )))
    .bind(state.encoded())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if last > 0 {
        tracing::info!(store = %sql.names, events = last, "audit-sqlx built the Merkle tree of the stored events");
    }
    Ok(())
}

#[async_trait]
impl TreeBackend for MySqlStore {
    async fn tree_rows(&self, seqs: &[u64]) -> Result<Vec<TreeRow>> {
        let mut conn = self.inner.db.acquire().await?;
        let mut found = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(1000) {
            let mut b = QueryBuilder::<MySql>::new(format!(
                "SELECT seq, hashes FROM {} WHERE seq IN (",
                self.inner.sql.tree
            ));
            let mut list = b.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            b.push(")");
            for row in b.build().fetch_all(&mut *conn).await? {
                let seq: u64 = row.try_get(0)?;
                let bytes: Vec<u8> = row.try_get(1)?;
                found.push(parse_row(seq, &bytes)?);
            }
        }
        Ok(found)
    }

    async fn tree_size(&self) -> Result<u64> {
        let mut conn = self.inner.db.acquire().await?;
        let max: Option<u64> = query_scalar::<MySql, Option<u64>>(AssertSqlSafe(format!(
            "SELECT MAX(seq) FROM {}",
            self.inner.sql.tree
        )))
        .fetch_one(&mut *conn)
        .await?;
        Ok(max.unwrap_or(0))
    }

    async fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>> {
        let mut conn = self.inner.db.acquire().await?;
        Ok(query_scalar::<MySql, u64>(AssertSqlSafe(format!(
            "SELECT seq FROM {} WHERE id = ?",
            self.inner.sql.events
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<SignedCheckpoint>> {
        let mut conn = self.inner.db.acquire().await?;
        let order = if newest { "DESC" } else { "ASC" };
        let found = query::<MySql>(AssertSqlSafe(format!(
            "SELECT note FROM {} WHERE tree_size >= ? ORDER BY tree_size {order} LIMIT ?",
            self.inner.sql.checkpoints
        )))
        .bind(from_size)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        found
            .iter()
            .map(|row| parse_checkpoint(&row.try_get::<String, _>(0)?))
            .collect()
    }

    async fn sign_now(&self, policy: &CheckpointPolicy) -> Result<Option<SignedCheckpoint>> {
        let inner = &self.inner;
        let mut tx = inner.db.begin().await?;
        let (_, state) =
            super::write::lock_head_and_tree(&mut tx, &inner.sql, &inner.hasher).await?;
        let Some(signed) = state.sign_if_due(policy, true)? else {
            return Ok(None);
        };
        store_checkpoint(&mut tx, &inner.sql, &signed).await?;
        tx.commit().await?;
        Ok(Some(signed))
    }
}

transparency_log_through_tree_backend!(MySqlStore);

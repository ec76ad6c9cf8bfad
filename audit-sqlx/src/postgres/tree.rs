//! The Merkle tree and signed checkpoints in PostgreSQL (what is shared is in
//! [`crate::tree`]): `audit_tree` (one `bytea` of stored hashes per seq), `audit_checkpoints`,
//! and the frontier and newest checkpoint's size in the head row, which the lock already
//! reads and the head update already writes.

use async_trait::async_trait;
use audit_core::chain::ChainHash;
use audit_core::tlog::{CheckpointPolicy, Frontier, SignedCheckpoint, TreeRow};
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::{PgConnection, Postgres};

use super::encode::copy_tree_rows;
use super::schema::{SchemaName, Sql};
use super::store::PgStore;
use crate::error::{Error, Result};
use crate::fields::read_row;
use crate::read::SCAN_BATCH;
use crate::tree::{
    TreeBackend, TreeState, parse_checkpoint, parse_row, push_stored_leaf,
    transparency_log_through_tree_backend,
};

fn tree_table(schema: &SchemaName) -> String {
    format!("{}.audit_tree", schema.quoted())
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Inserts the stored-hash rows of one append.
pub(crate) async fn insert_rows(
    conn: &mut PgConnection,
    sql: &Sql,
    rows: &[TreeRow],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // Binary COPY, as for the events: the UNNEST insert it replaces cost about a third of
    // the append rate in the tlog bench.
    let statement = format!(
        "COPY {} (seq, hashes) FROM STDIN (FORMAT binary)",
        tree_table(&sql.schema)
    );
    let mut copy = conn.copy_in_raw(&statement).await?;
    if let Err(err) = copy.send(copy_tree_rows(rows)).await {
        // Abort so the connection is left usable; the transaction rolls back anyway.
        let _ = copy.abort("audit-sqlx: send failed").await;
        return Err(err.into());
    }
    copy.finish().await?;
    Ok(())
}

/// The leaves of the stored events with `after < seq <= last`, read on `conn` (inside the
/// append's or the migration's transaction), a page at a time.
pub(crate) async fn leaves_between(
    conn: &mut PgConnection,
    sql: &Sql,
    after: u64,
    last: u64,
) -> Result<Vec<ChainHash>> {
    let mut leaves = Vec::new();
    let mut at = after;
    while at < last {
        let page = query::<Postgres>(sql.scan.clone())
            .bind(seq_param(at))
            .bind(seq_param(last))
            .bind(i64::from(SCAN_BATCH))
            .fetch_all(&mut *conn)
            .await?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            let seq: i64 = row.try_get(0)?;
            let seq = u64::try_from(seq).unwrap_or(0);
            push_stored_leaf(&mut leaves, &mut at, seq, read_row(row), &sql.schema)?;
        }
    }
    Ok(leaves)
}

/// Stores a signed checkpoint and its size in the head row; the head lock must be held.
pub(crate) async fn store_checkpoint(
    conn: &mut PgConnection,
    sql: &Sql,
    checkpoint: &SignedCheckpoint,
) -> Result<()> {
    let s = sql.schema.quoted();
    query::<Postgres>(AssertSqlSafe(format!(
        "WITH c AS (INSERT INTO {s}.audit_checkpoints (tree_size, root, note) VALUES ($1, $2, $3) \
         ON CONFLICT (tree_size) DO NOTHING) \
         UPDATE {s}.audit_chain_head SET checkpoint_size = $1 WHERE singleton"
    )))
    .bind(seq_param(checkpoint.head().size))
    .bind(checkpoint.head().root.as_bytes().to_vec())
    .bind(checkpoint.as_str().to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The migration step to schema version 4: the tree of the events already stored, built in
/// the migration's transaction. A log that already purged a prefix cannot get a tree (the
/// purged events are gone); it keeps working without one.
pub(crate) async fn build(conn: &mut PgConnection, schema: &SchemaName) -> Result<()> {
    let s = schema.quoted();
    let purged: i64 = query_scalar::<Postgres, i64>(AssertSqlSafe(format!(
        "SELECT count(*) FROM {s}.audit_anchors"
    )))
    .fetch_one(&mut *conn)
    .await?;
    if purged > 0 {
        tracing::warn!(
            schema = %schema,
            "audit-sqlx: this log purged events before it had a Merkle tree; it keeps \
             working with its hash chain, without a tree, proofs or signed checkpoints"
        );
        return Ok(());
    }
    let sql = Sql::new(schema.clone());
    let last: Option<i64> = query_scalar::<Postgres, Option<i64>>(sql.max_seq.clone())
        .fetch_one(&mut *conn)
        .await?;
    let last = last.and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
    let mut state = TreeState {
        frontier: Some(Frontier::new()),
        checkpoint_size: 0,
    };
    // A page at a time, so memory stays bounded however long the log is.
    let mut at = 0;
    while at < last {
        let upto = last.min(at + u64::from(SCAN_BATCH) * 5);
        let leaves = leaves_between(conn, &sql, at, upto).await?;
        let rows = state.extend(leaves.into_iter());
        insert_rows(conn, &sql, &rows).await?;
        at = state.size().unwrap_or(upto);
        if at < upto {
            return Err(Error::Schema(format!(
                "a gap after seq {at} in {schema}: the Merkle tree cannot be built (verify the \
                 chain)"
            )));
        }
    }
    query::<Postgres>(AssertSqlSafe(format!(
        "UPDATE {s}.audit_chain_head SET tree_frontier = $1 WHERE singleton"
    )))
    .bind(state.encoded())
    .execute(&mut *conn)
    .await?;
    if last > 0 {
        tracing::info!(schema = %schema, events = last, "audit-sqlx built the Merkle tree of the stored events");
    }
    Ok(())
}

#[async_trait]
impl TreeBackend for PgStore {
    async fn tree_rows(&self, seqs: &[u64]) -> Result<Vec<TreeRow>> {
        let seqs: Vec<i64> = seqs.iter().map(|&s| seq_param(s)).collect();
        let found = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT seq, hashes FROM {} WHERE seq = ANY($1)",
            tree_table(&self.inner.sql.schema)
        )))
        .bind(seqs)
        .fetch_all(&self.inner.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                let seq: i64 = row.try_get(0)?;
                let bytes: Vec<u8> = row.try_get(1)?;
                parse_row(u64::try_from(seq).unwrap_or(0), &bytes)
            })
            .collect()
    }

    async fn tree_size(&self) -> Result<u64> {
        let max: Option<i64> = query_scalar::<Postgres, Option<i64>>(AssertSqlSafe(format!(
            "SELECT max(seq) FROM {}",
            tree_table(&self.inner.sql.schema)
        )))
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(max.and_then(|m| u64::try_from(m).ok()).unwrap_or(0))
    }

    async fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>> {
        let seq: Option<i64> = query_scalar::<Postgres, i64>(AssertSqlSafe(format!(
            "SELECT seq FROM {} WHERE id = $1",
            self.inner.sql.events
        )))
        .bind(id)
        .fetch_optional(&self.inner.pool)
        .await?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()))
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<SignedCheckpoint>> {
        let order = if newest { "DESC" } else { "ASC" };
        let found = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT note FROM {}.audit_checkpoints WHERE tree_size >= $1 \
             ORDER BY tree_size {order} LIMIT $2",
            self.inner.sql.schema.quoted()
        )))
        .bind(seq_param(from_size))
        .bind(i64::from(limit))
        .fetch_all(&self.inner.pool)
        .await?;
        found
            .iter()
            .map(|row| parse_checkpoint(&row.try_get::<String, _>(0)?))
            .collect()
    }

    async fn sign_now(&self, policy: &CheckpointPolicy) -> Result<Option<SignedCheckpoint>> {
        let sql = &self.inner.sql;
        let mut tx = self.inner.pool.begin().await?;
        let head = query::<Postgres>(sql.lock_head.clone())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::Schema("the chain head row is missing".into()))?;
        let seq: i64 = head.try_get(0)?;
        let checkpoint_size: i64 = head.try_get(4)?;
        let state = TreeState::decode(
            u64::try_from(seq).unwrap_or(0),
            head.try_get(3)?,
            u64::try_from(checkpoint_size).unwrap_or(0),
        )?;
        let Some(signed) = state.sign_if_due(policy, true)? else {
            return Ok(None);
        };
        store_checkpoint(&mut tx, sql, &signed).await?;
        tx.commit().await?;
        Ok(Some(signed))
    }
}

transparency_log_through_tree_backend!(PgStore);

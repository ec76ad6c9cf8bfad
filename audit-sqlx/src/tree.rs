//! The log's Merkle tree and signed checkpoints in PostgreSQL.
//!
//! `audit_tree` holds one row of stored hashes per event and `audit_checkpoints` the signed
//! checkpoints. Both are written inside the append's transaction, after the head row was
//! locked: writers on every connection, process and machine extend one tree in the chain's
//! order, and a checkpoint that falls due is signed by whichever writer crosses the mark.
//! The tree's right edge (`tree_frontier`) and the newest checkpoint's size live in the head
//! row, which the lock already reads and the head update already writes, so the tree costs
//! one more statement per batch (the rows' insert).

use std::sync::Weak;

use audit_core::chain::ChainHash;
use audit_core::tlog::{CheckpointPolicy, Frontier, SignedCheckpoint, TreeRow, leaf_hash};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::{PgConnection, Postgres};

use crate::error::{Error, Result};
use crate::schema::{SchemaName, Sql};

/// What an append is told about checkpoints, and tells back.
#[derive(Default)]
pub(crate) struct TreeOut<'p> {
    /// When to sign.
    pub policy: Option<&'p CheckpointPolicy>,
    /// The checkpoint the append signed, to publish once its transaction committed.
    pub signed: Option<SignedCheckpoint>,
}

impl<'p> TreeOut<'p> {
    pub(crate) fn new(policy: Option<&'p CheckpointPolicy>) -> Self {
        Self {
            policy,
            signed: None,
        }
    }

    /// Publishes the signed checkpoint (call after the commit).
    pub(crate) fn publish(self) {
        if let (Some(policy), Some(signed)) = (self.policy, self.signed) {
            policy.publish(&signed);
        }
    }
}

/// The tree state read with the head lock, and what the append adds to it.
pub(crate) struct TreeWrite<'p> {
    /// `None`: this log has no tree (it purged events before it had one).
    frontier: Option<Frontier>,
    checkpoint_size: u64,
    policy: Option<&'p CheckpointPolicy>,
    /// The checkpoint the append signed, to publish once it committed.
    pub signed: Option<SignedCheckpoint>,
}

fn decode_frontier(size: u64, bytes: Option<Vec<u8>>) -> Result<Option<Frontier>> {
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let hashes: Vec<ChainHash> = bytes
        .chunks(32)
        .map(|c| ChainHash::from_slice(c).map_err(|e| Error::Schema(format!("tree frontier: {e}"))))
        .collect::<Result<_>>()?;
    Frontier::from_hashes(size, &hashes)
        .map(Some)
        .ok_or_else(|| Error::Schema(format!("the tree frontier does not fit {size} leaves")))
}

fn encode_frontier(frontier: &Frontier) -> Vec<u8> {
    frontier.hashes().iter().flat_map(|h| h.0).collect()
}

impl<'p> TreeWrite<'p> {
    /// The state read by the head lock (columns 3 and 4 of `lock_head`).
    pub(crate) fn from_head(
        head: &sqlx_postgres::PgRow,
        head_seq: u64,
        policy: Option<&'p CheckpointPolicy>,
    ) -> Result<Self> {
        let frontier: Option<Vec<u8>> = head.try_get(3)?;
        let checkpoint_size: i64 = head.try_get(4)?;
        Ok(Self {
            frontier: decode_frontier(head_seq, frontier)?,
            checkpoint_size: checkpoint_size.max(0) as u64,
            policy,
            signed: None,
        })
    }

    /// Adds the leaves of a batch and inserts their rows; signs a checkpoint when due.
    /// Returns the frontier to store in the head row.
    pub(crate) async fn append(
        &mut self,
        conn: &mut PgConnection,
        sql: &Sql,
        leaves: impl Iterator<Item = ChainHash>,
    ) -> Result<Option<Vec<u8>>> {
        let Some(frontier) = &mut self.frontier else {
            return Ok(None);
        };
        let (mut seqs, mut hashes) = (Vec::new(), Vec::new());
        for leaf in leaves {
            let row = frontier.append(leaf);
            seqs.push(row.seq as i64);
            hashes.push(row.to_bytes());
        }
        query::<Postgres>(AssertSqlSafe(format!(
            "INSERT INTO {} SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
            tree_table(&sql.schema)
        )))
        .bind(seqs)
        .bind(hashes)
        .execute(&mut *conn)
        .await?;
        if let Some(policy) = self.policy
            && policy.due(self.checkpoint_size, frontier.size())
        {
            self.signed = Some(sign(conn, &sql.schema, policy, frontier).await?);
        }
        Ok(Some(encode_frontier(frontier)))
    }
}

fn tree_table(schema: &SchemaName) -> String {
    format!("{}.audit_tree", schema.quoted())
}

/// Signs `frontier`'s head and stores it; the head row's lock must be held.
async fn sign(
    conn: &mut PgConnection,
    schema: &SchemaName,
    policy: &CheckpointPolicy,
    frontier: &Frontier,
) -> Result<SignedCheckpoint> {
    let checkpoint = policy
        .signer()
        .sign(frontier.head())
        .map_err(|e| Error::Schema(format!("signing a checkpoint: {e}")))?;
    let s = schema.quoted();
    query::<Postgres>(AssertSqlSafe(format!(
        "WITH c AS (INSERT INTO {s}.audit_checkpoints (tree_size, root, note) VALUES ($1, $2, $3) \
         ON CONFLICT (tree_size) DO NOTHING) \
         UPDATE {s}.audit_chain_head SET checkpoint_size = $1 WHERE singleton"
    )))
    .bind(frontier.size() as i64)
    .bind(checkpoint.head().root.as_bytes().to_vec())
    .bind(checkpoint.as_str().to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(checkpoint)
}

/// Signs a checkpoint of the tree as it is now in its own transaction, under the head lock,
/// unless the newest checkpoint has its size.
pub(crate) async fn sign_now(
    pool: &sqlx_postgres::PgPool,
    sql: &Sql,
    policy: &CheckpointPolicy,
) -> Result<Option<SignedCheckpoint>> {
    let mut tx = pool.begin().await?;
    let head = query::<Postgres>(sql.lock_head.clone())
        .fetch_one(&mut *tx)
        .await?;
    let seq: i64 = head.try_get(0)?;
    let state = TreeWrite::from_head(&head, seq.max(0) as u64, Some(policy))?;
    let Some(frontier) = state.frontier.filter(|f| f.size() > state.checkpoint_size) else {
        return Ok(None);
    };
    let signed = sign(&mut tx, &sql.schema, policy, &frontier).await?;
    tx.commit().await?;
    Ok(Some(signed))
}

/// Asks the store to sign a checkpoint every `interval` while it lives (the task holds a
/// weak handle and stops once every clone is dropped).
pub(crate) fn spawn_timer(store: Weak<crate::store::Inner>, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(inner) = store.upgrade() else { return };
            if let Some(policy) = &inner.checkpoints {
                match sign_now(&inner.pool, &inner.sql, policy).await {
                    Ok(Some(signed)) => policy.publish(&signed),
                    Ok(None) => {}
                    Err(err) => tracing::warn!(%err, "audit-sqlx could not sign a checkpoint"),
                }
            }
            drop(inner);
        }
    });
}

/// Rows of `seqs`.
pub(crate) async fn rows(
    pool: &sqlx_postgres::PgPool,
    schema: &SchemaName,
    seqs: &[u64],
) -> Result<Vec<TreeRow>> {
    let seqs: Vec<i64> = seqs.iter().map(|&s| s as i64).collect();
    let found = query::<Postgres>(AssertSqlSafe(format!(
        "SELECT seq, hashes FROM {} WHERE seq = ANY($1)",
        tree_table(schema)
    )))
    .bind(seqs)
    .fetch_all(pool)
    .await?;
    found
        .iter()
        .map(|row| {
            let seq: i64 = row.try_get(0)?;
            let bytes: Vec<u8> = row.try_get(1)?;
            TreeRow::from_bytes(seq.max(0) as u64, &bytes)
                .map_err(|e| Error::Schema(format!("tree row {seq}: {e}")))
        })
        .collect()
}

/// Leaves in the tree.
pub(crate) async fn size(pool: &sqlx_postgres::PgPool, schema: &SchemaName) -> Result<u64> {
    let max: Option<i64> = sqlx_core::query_scalar::query_scalar::<Postgres, Option<i64>>(
        AssertSqlSafe(format!("SELECT max(seq) FROM {}", tree_table(schema))),
    )
    .fetch_one(pool)
    .await?;
    Ok(max.map_or(0, |m| m.max(0) as u64))
}

/// Stored checkpoints from `from_size` up (`newest`: only the newest one).
pub(crate) async fn checkpoints(
    pool: &sqlx_postgres::PgPool,
    schema: &SchemaName,
    from_size: u64,
    limit: u32,
    newest: bool,
) -> Result<Vec<SignedCheckpoint>> {
    let order = if newest { "DESC" } else { "ASC" };
    let found = query::<Postgres>(AssertSqlSafe(format!(
        "SELECT note FROM {}.audit_checkpoints WHERE tree_size >= $1 \
         ORDER BY tree_size {order} LIMIT $2",
        schema.quoted()
    )))
    .bind(from_size as i64)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    found
        .iter()
        .map(|row| {
            let note: String = row.try_get(0)?;
            SignedCheckpoint::parse(&note).map_err(|e| Error::Schema(format!("checkpoint: {e}")))
        })
        .collect()
}

/// The migration step to schema version 2: the tree of the events already stored, built in
/// the migration's transaction. A log that already purged a prefix cannot get a tree (the
/// purged events are gone); it keeps working without one.
pub(crate) async fn build(conn: &mut PgConnection, schema: &SchemaName) -> Result<()> {
    let s = schema.quoted();
    let purged: i64 = sqlx_core::query_scalar::query_scalar::<Postgres, i64>(AssertSqlSafe(
        format!("SELECT count(*) FROM {s}.audit_anchors"),
    ))
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
    let tree = tree_table(schema);
    let mut frontier = Frontier::new();
    // Pages by seq, so memory stays bounded however long the log is.
    loop {
        let page = query::<Postgres>(sql.scan.clone())
            .bind(frontier.size() as i64)
            .bind(i64::MAX)
            .bind(10_000_i64)
            .fetch_all(&mut *conn)
            .await?;
        if page.is_empty() {
            break;
        }
        let (mut seqs, mut hashes) = (
            Vec::with_capacity(page.len()),
            Vec::with_capacity(page.len()),
        );
        for row in &page {
            let record = crate::row::stored_event(row)?;
            if record.seq != frontier.size() + 1 {
                return Err(Error::Schema(format!(
                    "a gap before seq {} in {schema}: the tree cannot be built (verify the chain)",
                    record.seq
                )));
            }
            let stored = frontier.append(leaf_hash(&record.event));
            seqs.push(stored.seq as i64);
            hashes.push(stored.to_bytes());
        }
        query::<Postgres>(AssertSqlSafe(format!(
            "INSERT INTO {tree} SELECT * FROM UNNEST($1::bigint[], $2::bytea[])"
        )))
        .bind(seqs)
        .bind(hashes)
        .execute(&mut *conn)
        .await?;
    }
    query::<Postgres>(AssertSqlSafe(format!(
        "UPDATE {s}.audit_chain_head SET tree_frontier = $1 WHERE singleton"
    )))
    .bind(encode_frontier(&frontier))
    .execute(&mut *conn)
    .await?;
    if frontier.size() > 0 {
        tracing::info!(schema = %schema, events = frontier.size(), "audit-sqlx built the Merkle tree of the stored events");
    }
    Ok(())
}

impl crate::store::PgStore {
    /// Signs a checkpoint of the tree now (see
    /// [`TransparencyLog::sign_checkpoint`](audit_core::tlog::TransparencyLog::sign_checkpoint)),
    /// with this crate's error type; `None` without a checkpoint policy or when the newest
    /// checkpoint already has the tree's size.
    pub async fn sign_tree_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        let inner = &self.inner;
        let Some(policy) = &inner.checkpoints else {
            return Ok(None);
        };
        let signed = sign_now(&inner.pool, &inner.sql, policy).await?;
        if let Some(checkpoint) = &signed {
            policy.publish(checkpoint);
        }
        Ok(signed)
    }
}

#[async_trait::async_trait]
impl audit_core::tlog::TransparencyLog for crate::store::PgStore {
    async fn tree_size(&self) -> std::result::Result<u64, audit_core::StoreError> {
        Ok(size(&self.inner.pool, &self.inner.sql.schema).await?)
    }

    async fn tree_rows(
        &self,
        seqs: &[u64],
    ) -> std::result::Result<Vec<TreeRow>, audit_core::StoreError> {
        Ok(rows(&self.inner.pool, &self.inner.sql.schema, seqs).await?)
    }

    async fn seq_of(
        &self,
        id: uuid::Uuid,
    ) -> std::result::Result<Option<u64>, audit_core::StoreError> {
        let seq: Option<i64> =
            sqlx_core::query_scalar::query_scalar::<Postgres, i64>(AssertSqlSafe(format!(
                "SELECT seq FROM {} WHERE id = $1",
                self.inner.sql.events
            )))
            .bind(id)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(Error::from)?;
        Ok(seq.map(|s| s.max(0) as u64))
    }

    async fn sign_checkpoint(
        &self,
    ) -> std::result::Result<Option<SignedCheckpoint>, audit_core::StoreError> {
        self.sign_tree_checkpoint().await?;
        self.latest_checkpoint().await
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
    ) -> std::result::Result<Vec<SignedCheckpoint>, audit_core::StoreError> {
        Ok(checkpoints(
            &self.inner.pool,
            &self.inner.sql.schema,
            from_size,
            limit,
            false,
        )
        .await?)
    }

    async fn latest_checkpoint(
        &self,
    ) -> std::result::Result<Option<SignedCheckpoint>, audit_core::StoreError> {
        Ok(
            checkpoints(&self.inner.pool, &self.inner.sql.schema, 0, 1, true)
                .await?
                .pop(),
        )
    }
}

//! The store side of the tree: what every backend implements, and the proofs built on it.

use std::collections::HashMap;

use async_trait::async_trait;
use uuid::Uuid;

use super::proof::{self, ConsistencyProof, InclusionProof};
use super::{SignedCheckpoint, TreeHead, TreeRow};
use crate::store::StoreError;

/// A store that keeps the RFC 6962 tree of its log (docs/chain.md, section 6).
///
/// Backends implement the five storage methods; the proofs and roots are built here, once,
/// from the rows they return (`tlog_tiles`' algorithms over Go's stored-hash layout: no proof
/// re-hashes the log).
#[async_trait]
pub trait TransparencyLog: Send + Sync + 'static {
    /// The number of leaves: the newest seq, archived events included (0 for an empty log).
    async fn tree_size(&self) -> Result<u64, StoreError>;

    /// The stored rows of these seqs (see [`TreeRow`]); seqs without a row are left out.
    async fn tree_rows(&self, seqs: &[u64]) -> Result<Vec<TreeRow>, StoreError>;

    /// The seq of the event with this id, if it is stored (archived events are not).
    async fn seq_of(&self, id: Uuid) -> Result<Option<u64>, StoreError>;

    /// Signs and stores a checkpoint of the tree as it is now, under the same lock as
    /// appends, unless the newest stored checkpoint already has this size; publishes it.
    /// Returns the newest checkpoint, `None` when the store has no signer or the log is empty.
    async fn sign_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError>;

    /// Up to `limit` stored checkpoints with a size of at least `from_size`, smallest first.
    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>, StoreError>;

    /// The newest stored checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError>;

    /// The tree's size and root now.
    async fn tree_head(&self) -> Result<TreeHead, StoreError> {
        let size = self.tree_size().await?;
        self.tree_head_at(size).await
    }

    /// The root of the tree when it had `size` leaves.
    async fn tree_head_at(&self, size: u64) -> Result<TreeHead, StoreError> {
        let rows = fetch(self, &proof::root_rows(size)?).await?;
        Ok(proof::root(size, &rows)?)
    }

    /// Proof that the event at `seq` is in the tree of `tree_size` leaves.
    async fn prove_inclusion(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        let rows = fetch_within(self, tree_size, proof::inclusion_rows(seq, tree_size)?).await?;
        Ok(proof::inclusion(seq, tree_size, &rows)?)
    }

    /// Proof that the event with `id` is in the tree of `tree_size` leaves.
    async fn prove_inclusion_of(
        &self,
        id: Uuid,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        let seq = self
            .seq_of(id)
            .await?
            .ok_or_else(|| StoreError::InvalidRequest(format!("no stored event has id {id}")))?;
        self.prove_inclusion(seq, tree_size).await
    }

    /// Proof that the tree of `old_size` leaves is a prefix of the tree of `new_size`.
    async fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, StoreError> {
        let rows =
            fetch_within(self, new_size, proof::consistency_rows(old_size, new_size)?).await?;
        Ok(proof::consistency(old_size, new_size, &rows)?)
    }
}

/// A store that is both an [`AuditStore`](crate::AuditStore) and a [`TransparencyLog`]
/// (every backend of this workspace), usable as one trait object
/// (`&dyn TransparentStore`) by tools that verify logs and write bundles.
pub trait TransparentStore: crate::AuditStore + TransparencyLog {}

impl<T: crate::AuditStore + TransparencyLog + ?Sized> TransparentStore for T {}

/// Fetches `seqs` from the tree of `size` leaves, refusing a size the tree has not reached.
/// Row `size` comes in the same query: tree rows are written without gaps and never
/// deleted, so it is there when the tree has at least `size` leaves, and a proof costs one
/// round trip (the size is only asked for when that row is absent).
async fn fetch_within<L: TransparencyLog + ?Sized>(
    log: &L,
    size: u64,
    mut seqs: Vec<u64>,
) -> Result<HashMap<u64, TreeRow>, StoreError> {
    if size == 0 {
        return fetch(log, &seqs).await;
    }
    if !seqs.contains(&size) {
        seqs.push(size);
    }
    let rows = fetch(log, &seqs).await?;
    if !rows.contains_key(&size) {
        let have = log.tree_size().await?;
        if size > have {
            return Err(StoreError::InvalidRequest(format!(
                "the tree has {have} leaves, not {size}"
            )));
        }
    }
    Ok(rows)
}

async fn fetch<L: TransparencyLog + ?Sized>(
    log: &L,
    seqs: &[u64],
) -> Result<HashMap<u64, TreeRow>, StoreError> {
    if seqs.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(log
        .tree_rows(seqs)
        .await?
        .into_iter()
        .map(|row| (row.seq, row))
        .collect())
}

#[async_trait]
impl<T: TransparencyLog + ?Sized> TransparencyLog for std::sync::Arc<T> {
    async fn tree_size(&self) -> Result<u64, StoreError> {
        (**self).tree_size().await
    }

    async fn tree_rows(&self, seqs: &[u64]) -> Result<Vec<TreeRow>, StoreError> {
        (**self).tree_rows(seqs).await
    }

    async fn seq_of(&self, id: Uuid) -> Result<Option<u64>, StoreError> {
        (**self).seq_of(id).await
    }

    async fn sign_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        (**self).sign_checkpoint().await
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        (**self).checkpoints(from_size, limit).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        (**self).latest_checkpoint().await
    }
}

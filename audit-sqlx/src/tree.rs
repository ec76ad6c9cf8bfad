//! The log's Merkle tree and signed checkpoints: what every backend shares.
//!
//! Each backend keeps one row of stored hashes per event (`audit_tree`) and the signed
//! checkpoints (`audit_checkpoints`), written inside the append's transaction after the head
//! row was locked: writers on every connection, process and machine extend one tree in the
//! chain's order, and a checkpoint that falls due is signed by whichever writer crosses the
//! mark. The tree's right edge (its frontier) and the newest checkpoint's size are read with
//! the head lock, so an append costs one more insert per batch (the tree rows). What is here
//! is the part without SQL: the state read with the lock, extending it, when to sign, and
//! the [`TransparencyLog`](audit_core::tlog::TransparencyLog) built on a backend's few
//! queries ([`TreeBackend`]).

use async_trait::async_trait;
use audit_core::chain::ChainHash;
use audit_core::tlog::{CheckpointPolicy, Frontier, SignedCheckpoint, TreeRow};

use crate::error::{Error, Result};

/// What an append is told about checkpoints, and tells back.
pub(crate) struct TreeOut<'p> {
    /// When to sign (`None`: extend the tree, never sign).
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

    /// Publishes the signed checkpoint (call after the commit, so no publisher ever sees a
    /// checkpoint its log does not hold).
    pub(crate) fn publish(self) {
        if let (Some(policy), Some(signed)) = (self.policy, self.signed) {
            policy.publish(&signed);
        }
    }
}

/// The tree as the head lock read it.
pub(crate) struct TreeState {
    /// `None`: this log has no tree (it purged events before it had one).
    pub frontier: Option<Frontier>,
    /// The newest checkpoint's tree size.
    pub checkpoint_size: u64,
}

impl TreeState {
    /// Decodes the frontier column (`size` leaves; `None` for a log without a tree).
    pub fn decode(size: u64, frontier: Option<Vec<u8>>, checkpoint_size: u64) -> Result<Self> {
        let frontier = match frontier {
            None => None,
            Some(bytes) => {
                if bytes.len() % 32 != 0 {
                    return Err(Error::Schema(format!(
                        "the tree frontier holds {} bytes, not whole hashes",
                        bytes.len()
                    )));
                }
                let hashes: Vec<ChainHash> = bytes
                    .chunks(32)
                    .map(|c| {
                        ChainHash::from_slice(c)
                            .map_err(|e| Error::Schema(format!("tree frontier: {e}")))
                    })
                    .collect::<Result<_>>()?;
                Some(Frontier::from_hashes(size, &hashes).ok_or_else(|| {
                    Error::Schema(format!("the tree frontier does not fit {size} leaves"))
                })?)
            }
        };
        Ok(Self {
            frontier,
            checkpoint_size,
        })
    }

    /// Adds `leaves` and returns the rows to insert (empty for a log without a tree).
    pub fn extend(&mut self, leaves: impl Iterator<Item = ChainHash>) -> Vec<TreeRow> {
        match &mut self.frontier {
            Some(frontier) => leaves.map(|leaf| frontier.append(leaf)).collect(),
            None => Vec::new(),
        }
    }

    /// The leaves the tree has (the chain's seq it has reached).
    pub fn size(&self) -> Option<u64> {
        self.frontier.as_ref().map(Frontier::size)
    }

    /// The frontier column's new value (`None`: leave it NULL).
    pub fn encoded(&self) -> Option<Vec<u8>> {
        self.frontier
            .as_ref()
            .map(|f| f.hashes().iter().flat_map(|h| h.0).collect())
    }

    /// The checkpoint to sign now under `policy`: `force` signs whenever the tree grew since
    /// the newest checkpoint (a timer, shutdown), otherwise only when the policy says it is
    /// due.
    pub fn sign_if_due(
        &self,
        policy: &CheckpointPolicy,
        force: bool,
    ) -> Result<Option<SignedCheckpoint>> {
        let Some(frontier) = &self.frontier else {
            return Ok(None);
        };
        let due = if force {
            frontier.size() > self.checkpoint_size
        } else {
            policy.due(self.checkpoint_size, frontier.size())
        };
        if !due {
            return Ok(None);
        }
        policy
            .signer()
            .sign(frontier.head())
            .map(Some)
            .map_err(|e| Error::Schema(format!("signing a checkpoint: {e}")))
    }
}

/// Parses a stored checkpoint note.
pub(crate) fn parse_checkpoint(note: &str) -> Result<SignedCheckpoint> {
    SignedCheckpoint::parse(note).map_err(|e| Error::Schema(format!("stored checkpoint: {e}")))
}

/// Decodes a stored tree row.
pub(crate) fn parse_row(seq: u64, bytes: &[u8]) -> Result<TreeRow> {
    TreeRow::from_bytes(seq, bytes).map_err(|e| Error::Schema(format!("tree row {seq}: {e}")))
}

/// The leaf of a row the chain holds beyond the tree (inserted behind the head's back): the
/// tree takes what the table holds so its leaf indexes stay the chain's seqs; verification
/// reports the row itself. An undecodable row becomes the leaf of an entry naming its seq.
pub(crate) fn leaf_of_stored(seq: u64, row: Result<audit_core::StoredEvent>) -> ChainHash {
    match row {
        Ok(stored) => audit_core::tlog::leaf_hash(&stored.event),
        Err(_) => audit_core::tlog::leaf_hash_of_entry(format!("undecodable row {seq}").as_bytes()),
    }
}

/// Adds the leaf of the stored row at `seq` to `leaves`, which so far cover the rows up to
/// `*at`. A row that does not follow at once (a gap in the chain) is refused: the tree cannot
/// cover it. `place` names the store in the error.
pub(crate) fn push_stored_leaf(
    leaves: &mut Vec<ChainHash>,
    at: &mut u64,
    seq: u64,
    row: Result<audit_core::StoredEvent>,
    place: &dyn std::fmt::Display,
) -> Result<()> {
    if seq != *at + 1 {
        return Err(crate::error::Error::Schema(format!(
            "a gap before seq {seq} in {place}: the Merkle tree cannot cover it (verify the \
             chain)"
        )));
    }
    leaves.push(leaf_of_stored(seq, row));
    *at = seq;
    Ok(())
}

/// The queries a backend answers for its tree; the
/// [`TransparencyLog`](audit_core::tlog::TransparencyLog) is built on them by
/// [`transparency_log_through_tree_backend!`].
#[async_trait]
pub(crate) trait TreeBackend: Send + Sync {
    /// The stored rows of `seqs` (missing ones left out).
    async fn tree_rows(&self, seqs: &[u64]) -> Result<Vec<TreeRow>>;
    /// Leaves in the tree.
    async fn tree_size(&self) -> Result<u64>;
    /// The seq of the event with `id`.
    async fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>>;
    /// Stored checkpoints from tree size `from_size` up (`newest`: the newest first).
    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<SignedCheckpoint>>;
    /// Signs a checkpoint of the tree as it is now under the head lock, unless the newest
    /// one has its size; stores it (not published yet).
    async fn sign_now(&self, policy: &CheckpointPolicy) -> Result<Option<SignedCheckpoint>>;
}

/// Signs a checkpoint now if the store has a policy, and publishes it.
pub(crate) async fn sign_and_publish(
    b: &impl TreeBackend,
    policy: Option<&CheckpointPolicy>,
) -> Result<Option<SignedCheckpoint>> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    let signed = b.sign_now(policy).await?;
    if let Some(checkpoint) = &signed {
        policy.publish(checkpoint);
    }
    Ok(signed)
}

/// Signs every `interval` while `store` lives, on the store's runtime (the task holds a weak
/// handle and stops once every clone is dropped).
macro_rules! spawn_checkpoint_timer {
    ($store:expr, $interval:expr, $inner:ty, $wrap:expr) => {{
        let weak: std::sync::Weak<$inner> = std::sync::Arc::downgrade(&$store.inner);
        let interval: std::time::Duration = $interval;
        $store.runtime().spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let store = $wrap(inner);
                if let Err(err) =
                    $crate::tree::sign_and_publish(&store, store.inner.checkpoints.as_ref()).await
                {
                    tracing::warn!(%err, "audit-sqlx could not sign a checkpoint");
                }
            }
        });
    }};
}
pub(crate) use spawn_checkpoint_timer;

/// Implements [`TransparencyLog`](audit_core::tlog::TransparencyLog) and the store's
/// `sign_tree_checkpoint` for a store that is a [`TreeBackend`], each call on the store's
/// runtime.
macro_rules! transparency_log_through_tree_backend {
    ($store:ty) => {
        impl $store {
            /// Signs a checkpoint of the tree now (see
            /// [`TransparencyLog::sign_checkpoint`](audit_core::tlog::TransparencyLog::sign_checkpoint))
            /// with this crate's error type, and hands it to the policy's publisher; `None`
            /// without a checkpoint policy or when the newest checkpoint already has the
            /// tree's size.
            pub async fn sign_tree_checkpoint(
                &self,
            ) -> $crate::Result<Option<audit_core::tlog::SignedCheckpoint>> {
                self.runtime()
                    .run($crate::tree::sign_and_publish(
                        self,
                        self.inner.checkpoints.as_ref(),
                    ))
                    .await
            }
        }

        #[async_trait::async_trait]
        impl audit_core::tlog::TransparencyLog for $store {
            async fn tree_size(&self) -> Result<u64, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::tree::TreeBackend::tree_size(self))
                    .await?)
            }

            async fn tree_rows(
                &self,
                seqs: &[u64],
            ) -> Result<Vec<audit_core::tlog::TreeRow>, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::tree::TreeBackend::tree_rows(self, seqs))
                    .await?)
            }

            async fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::tree::TreeBackend::seq_of(self, id))
                    .await?)
            }

            async fn sign_checkpoint(
                &self,
            ) -> Result<Option<audit_core::tlog::SignedCheckpoint>, audit_core::StoreError> {
                self.sign_tree_checkpoint().await?;
                self.latest_checkpoint().await
            }

            async fn checkpoints(
                &self,
                from_size: u64,
                limit: u32,
            ) -> Result<Vec<audit_core::tlog::SignedCheckpoint>, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::tree::TreeBackend::checkpoints(
                        self, from_size, limit, false,
                    ))
                    .await?)
            }

            async fn latest_checkpoint(
                &self,
            ) -> Result<Option<audit_core::tlog::SignedCheckpoint>, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::tree::TreeBackend::checkpoints(self, 0, 1, true))
                    .await?
                    .pop())
            }
        }
    };
}
pub(crate) use transparency_log_through_tree_backend;

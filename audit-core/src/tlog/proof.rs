//! Inclusion and consistency proofs, and their verification (RFC 6962 section 2.1).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tlog_tiles::Hash;

use super::stored::{RowReader, TreeRow, rows_needed};
use super::{TreeError, TreeHead};
use crate::chain::ChainHash;

/// A tree's size and root, as a checkpoint states them.
impl TreeHead {
    /// The empty tree: size 0, root `SHA-256("")`.
    pub fn empty() -> Self {
        Self {
            size: 0,
            root: ChainHash(tlog_tiles::EMPTY_HASH.0),
        }
    }
}

/// Proof that the event at `seq` is leaf `seq - 1` of the tree of `tree_size` leaves (an RFC
/// 6962 audit path: at most `ceil(log2(tree_size))` hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The event's seq.
    pub seq: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The audit path, from the leaf's sibling up.
    pub hashes: Vec<ChainHash>,
}

/// Proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves:
/// the log only grew, and nothing in the older tree changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The older tree's size.
    pub old_size: u64,
    /// The newer tree's size.
    pub new_size: u64,
    /// The RFC 6962 consistency proof.
    pub hashes: Vec<ChainHash>,
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof is for another tree than the one it is checked against.
    #[error("the proof is for a tree of {proof} leaves, the checkpoint has {head}")]
    WrongTree {
        /// The proof's tree size.
        proof: u64,
        /// The tree size it was checked against.
        head: u64,
    },
    /// The leaf is not inside the tree.
    #[error("seq {seq} is not inside a tree of {size} leaves")]
    OutOfRange {
        /// The seq.
        seq: u64,
        /// The tree size.
        size: u64,
    },
    /// The hashes do not lead to the root.
    #[error("the proof does not lead to the root: {0}")]
    Mismatch(&'static str),
}

fn t(hashes: &[ChainHash]) -> Vec<Hash> {
    hashes.iter().map(|h| Hash(h.0)).collect()
}

impl InclusionProof {
    /// Checks that `leaf` (see [`leaf_hash`](super::leaf_hash)) is the leaf at `self.seq` of
    /// the tree `head`.
    pub fn verify(&self, leaf: &ChainHash, head: &TreeHead) -> Result<(), ProofError> {
        if self.tree_size != head.size {
            return Err(ProofError::WrongTree {
                proof: self.tree_size,
                head: head.size,
            });
        }
        if self.seq == 0 || self.seq > head.size {
            return Err(ProofError::OutOfRange {
                seq: self.seq,
                size: head.size,
            });
        }
        // An audit path is at most 64 hashes; refuse longer input before any work.
        if self.hashes.len() > 64 {
            return Err(ProofError::Mismatch("the audit path is too long"));
        }
        tlog_tiles::check_record(
            &t(&self.hashes),
            head.size,
            Hash(head.root.0),
            self.seq - 1,
            Hash(leaf.0),
        )
        .map_err(|_| ProofError::Mismatch("the audit path does not hash to the root"))
    }
}

impl ConsistencyProof {
    /// Checks that `old` is a prefix of `new`.
    pub fn verify(&self, old: &TreeHead, new: &TreeHead) -> Result<(), ProofError> {
        if self.old_size != old.size || self.new_size != new.size {
            return Err(ProofError::WrongTree {
                proof: self.new_size,
                head: new.size,
            });
        }
        if old.size > new.size {
            return Err(ProofError::OutOfRange {
                seq: old.size,
                size: new.size,
            });
        }
        if self.hashes.len() > 128 {
            return Err(ProofError::Mismatch("the consistency proof is too long"));
        }
        if old.size == 0 {
            // Every tree extends the empty one.
            return match self.hashes.is_empty() && old.root == TreeHead::empty().root {
                true => Ok(()),
                false => Err(ProofError::Mismatch("a proof from the empty tree is empty")),
            };
        }
        tlog_tiles::check_tree(
            &t(&self.hashes),
            new.size,
            Hash(new.root.0),
            old.size,
            Hash(old.root.0),
        )
        .map_err(|_| ProofError::Mismatch("the trees are not consistent"))
    }
}

fn from_t(hashes: Vec<Hash>) -> Vec<ChainHash> {
    hashes.into_iter().map(|h| ChainHash(h.0)).collect()
}

fn check_size(seq: u64, size: u64) -> Result<(), TreeError> {
    if seq == 0 || seq > size {
        return Err(TreeError::OutOfRange { seq, size });
    }
    Ok(())
}

/// The rows [`inclusion`] reads.
pub(crate) fn inclusion_rows(seq: u64, size: u64) -> Result<Vec<u64>, TreeError> {
    check_size(seq, size)?;
    rows_needed(|r| tlog_tiles::prove_record(size, seq - 1, r))
}

/// Builds an inclusion proof from fetched rows.
pub(crate) fn inclusion(
    seq: u64,
    size: u64,
    rows: &HashMap<u64, TreeRow>,
) -> Result<InclusionProof, TreeError> {
    check_size(seq, size)?;
    let hashes = tlog_tiles::prove_record(size, seq - 1, &RowReader::new(rows))?;
    Ok(InclusionProof {
        seq,
        tree_size: size,
        hashes: from_t(hashes),
    })
}

/// The rows [`consistency`] reads.
pub(crate) fn consistency_rows(old: u64, new: u64) -> Result<Vec<u64>, TreeError> {
    if old > new {
        return Err(TreeError::OutOfRange {
            seq: old,
            size: new,
        });
    }
    if old == 0 {
        return Ok(Vec::new());
    }
    rows_needed(|r| tlog_tiles::prove_tree(new, old, r))
}

/// Builds a consistency proof from fetched rows.
pub(crate) fn consistency(
    old: u64,
    new: u64,
    rows: &HashMap<u64, TreeRow>,
) -> Result<ConsistencyProof, TreeError> {
    let hashes = if old == 0 {
        Vec::new()
    } else {
        from_t(tlog_tiles::prove_tree(new, old, &RowReader::new(rows))?)
    };
    Ok(ConsistencyProof {
        old_size: old,
        new_size: new,
        hashes,
    })
}

/// The rows [`root`] reads.
pub(crate) fn root_rows(size: u64) -> Result<Vec<u64>, TreeError> {
    rows_needed(|r| tlog_tiles::tree_hash(size, r))
}

/// The root of the tree of `size` leaves, from fetched rows.
pub(crate) fn root(size: u64, rows: &HashMap<u64, TreeRow>) -> Result<TreeHead, TreeError> {
    let root = tlog_tiles::tree_hash(size, &RowReader::new(rows))?;
    Ok(TreeHead {
        size,
        root: ChainHash(root.0),
    })
}

//! Verification of a stored chain: names the first bad `seq` and the kind of fault.
//!
//! IMPLEMENTATION OWNED BY THE CHAIN WORK (see issue 2): the types below are the contract
//! that stores rely on; the bodies are filled in there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ChainHash, ChainHasher};
use crate::event::StoredEvent;

/// Where verification starts: the genesis (`seq` 0, zero hash) or the last event of an
/// archived range or an earlier verified prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainAnchor {
    /// The seq of the event just before the first one to verify (0 for genesis).
    pub seq: u64,
    /// That event's hash ([`ChainHash::ZERO`] for genesis).
    pub hash: ChainHash,
}

impl ChainAnchor {
    /// The start of every chain.
    pub const GENESIS: ChainAnchor = ChainAnchor {
        seq: 0,
        hash: ChainHash::ZERO,
    };
}

/// A point of the chain exported for later comparison (`seq`, `hash`, time), so that a
/// truncated tail or a rewritten log is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The seq of the event.
    pub seq: u64,
    /// Its hash.
    pub hash: ChainHash,
    /// When the checkpoint was taken.
    pub taken_at: DateTime<Utc>,
}

/// The kind of tampering (or corruption) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultKind {
    /// The record's content no longer matches its hash.
    Modified,
    /// A record is missing (a gap in `seq`, or a link to a record that is not there).
    Missing,
    /// A record that was not part of the chain was added.
    Inserted,
    /// Records are out of their chained order.
    Reordered,
    /// The chain ends before a checkpoint taken earlier.
    Truncated,
}

/// The first fault found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("chain fault at seq {seq}: {kind:?}: {detail}")]
pub struct ChainFault {
    /// The first bad seq.
    pub seq: u64,
    /// What is wrong there.
    pub kind: FaultKind,
    /// A sentence for humans.
    pub detail: String,
}

/// The result of verifying a chain or a range of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// How many records were checked.
    pub checked: u64,
    /// The last record that verified, as a checkpoint to keep.
    pub head: Option<Checkpoint>,
    /// The first fault, if any.
    pub fault: Option<ChainFault>,
}

impl VerifyReport {
    /// True when no fault was found.
    pub fn is_valid(&self) -> bool {
        self.fault.is_none()
    }
}

/// A streaming verifier: push records in `seq` order, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct ChainVerifier {
    hasher: ChainHasher,
    anchor: ChainAnchor,
}

impl ChainVerifier {
    /// Verifies a chain from its genesis.
    pub fn new(hasher: ChainHasher) -> Self {
        Self::from_anchor(hasher, ChainAnchor::GENESIS)
    }

    /// Verifies records that follow `anchor`.
    pub fn from_anchor(hasher: ChainHasher, anchor: ChainAnchor) -> Self {
        Self { hasher, anchor }
    }

    /// Checks the next record. Returns the first fault once one is known; later calls keep
    /// returning it.
    pub fn push(&mut self, record: &StoredEvent) -> Result<(), ChainFault> {
        let _ = (&self.hasher, &self.anchor, record);
        todo!("chain verifier: implemented by the chain work")
    }

    /// Ends verification; `checkpoint`, when given, must be at or before the last record
    /// and match its hash, or the tail was truncated or rewritten.
    pub fn finish(self, checkpoint: Option<&Checkpoint>) -> VerifyReport {
        let _ = checkpoint;
        todo!("chain verifier: implemented by the chain work")
    }
}

/// Verifies `records` (in `seq` order) from `anchor`, against an optional checkpoint.
pub fn verify<'a>(
    hasher: ChainHasher,
    anchor: ChainAnchor,
    records: impl IntoIterator<Item = &'a StoredEvent>,
    checkpoint: Option<&Checkpoint>,
) -> VerifyReport {
    let mut verifier = ChainVerifier::from_anchor(hasher, anchor);
    for record in records {
        if verifier.push(record).is_err() {
            break;
        }
    }
    verifier.finish(checkpoint)
}

//! Transparency-log guarantees: an RFC 6962 Merkle tree over the log, signed checkpoints,
//! inclusion and consistency proofs, and export bundles anyone can verify offline.
//!
//! The hash chain ([`crate::chain`]) detects a changed, removed, inserted or reordered record,
//! but a whole log rewritten with a recomputed SHA-256 chain verifies, a removed tail leaves
//! a valid shorter chain, and proving one event means re-hashing everything before it. The
//! tree closes those gaps the way Certificate Transparency and Go's checksum database do:
//!
//! - every backend keeps an RFC 6962 tree over its events as it appends them, `O(log n)`
//!   work per event: leaf `seq - 1` is [`leaf_hash`]`(event)`, and the hashes are stored in
//!   Go's stored-hash layout ([`TreeRow`]: the hashes each event stores, written in the
//!   append's transaction; a row per event on the servers, runs of rows in SQLite);
//! - a [`CheckpointSigner`] signs C2SP checkpoints (origin, size, root) as C2SP signed notes
//!   with Ed25519, every N events, every T seconds and at shutdown ([`CheckpointPolicy`]);
//!   they are stored in the log's own table and handed to a [`CheckpointPublisher`];
//! - the store answers [`InclusionProof`]s and [`ConsistencyProof`]s
//!   ([`TransparencyLog`]) of `log2(n)` hashes, which anyone verifies with the verifying key
//!   ([`Keyring`]) and SHA-256 alone;
//! - a [`bundle`] is an export that carries its signed checkpoint and proof, and verifies
//!   offline with no database: valid, or the first bad seq and why.
//!
//! The tree math is the `tlog_tiles` crate (Cloudflare's port of Go's
//! `golang.org/x/mod/sumdb/tlog`), notes and keys the `signed_note` crate (its port of Go's
//! `note`): both tested against Certificate Transparency and Go's vectors by their authors.
//! This module only lays their stored hashes out per event and names things for an audit log.
//!
//! ```
//! use audit_core::{AuditEvent, AuditSink, sinks::MemorySink};
//! use audit_core::tlog::{CheckpointPolicy, CheckpointSigner, Keyring, TransparencyLog, leaf_hash};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let signer = CheckpointSigner::generate("audit.example.com/ftms").unwrap();
//! let keyring = Keyring::new(signer.verifying_key()).unwrap();
//! let log = MemorySink::new().with_checkpoints(CheckpointPolicy::new(signer));
//! let events: Vec<_> = (0..5).map(|_| AuditEvent::builder("USER_LOGIN").build()).collect();
//! log.write(&events).await.unwrap();
//!
//! // The auditor holds a signed checkpoint and the verifying key...
//! let checkpoint = log.sign_checkpoint().await.unwrap().unwrap();
//! let head = checkpoint.verify(&keyring).unwrap();
//! // ...and checks that event 3 is in the log it vouches for, with 3 hashes.
//! let proof = log.prove_inclusion(3, head.size).await.unwrap();
//! assert_eq!(proof.hashes.len(), 3);
//! proof.verify(&leaf_hash(&events[2]), &head).unwrap();
//! # });
//! ```

pub mod bundle;
mod checkpoint;
mod keys;
mod leaf;
mod policy;
mod proof;
mod store;
mod stored;
mod tenant;
mod verify;

pub use checkpoint::{CheckpointError, SignedCheckpoint};
pub use keys::{CheckpointSigner, KeyError, Keyring};
pub use leaf::{LEAF_VERSION, leaf_hash, leaf_hash_of_entry, leaf_hash_with_scratch};
pub use policy::{CheckpointPolicy, CheckpointPublisher, FilePublisher, FnPublisher};
pub use proof::{ConsistencyProof, InclusionProof, ProofError};
pub use store::{TransparencyLog, TransparentStore};
pub use stored::{Frontier, TreeRow};
pub use tenant::{MAX_LISTED_FAULTS, TenantReport, verify_tenant};
pub use verify::{TreeFault, TreeFaultKind, TreeReport, check_fork, verify_log};

use serde::{Deserialize, Serialize};

use crate::chain::ChainHash;
use crate::store::StoreError;

/// A tree's size and root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TreeHead {
    /// The number of leaves (the events `1..=size`).
    pub size: u64,
    /// The RFC 6962 root hash.
    pub root: ChainHash,
}

/// Why a tree operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A seq outside the tree.
    #[error("seq {seq} is not inside a tree of {size} leaves")]
    OutOfRange {
        /// The seq asked for.
        seq: u64,
        /// The tree's size.
        size: u64,
    },
    /// The store lacks rows the tree of this size needs.
    #[error("the stored tree lacks rows needed for a tree of {size} leaves")]
    MissingRows {
        /// The size asked for.
        size: u64,
    },
    /// A stored row has the wrong length.
    #[error("stored tree row {seq} is corrupt: {detail}")]
    CorruptRow {
        /// The row's seq.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// The tree algorithms refused the request.
    #[error("tree: {0}")]
    Tlog(String),
}

impl From<tlog_tiles::Error> for TreeError {
    fn from(err: tlog_tiles::Error) -> Self {
        match err {
            tlog_tiles::Error::IndexesNotInTree => TreeError::MissingRows { size: 0 },
            other => TreeError::Tlog(other.to_string()),
        }
    }
}

impl From<TreeError> for StoreError {
    fn from(err: TreeError) -> Self {
        match err {
            TreeError::CorruptRow { seq, detail } => StoreError::Corrupt {
                seq,
                message: format!("tree row: {detail}"),
            },
            TreeError::MissingRows { .. } => StoreError::Schema(err.to_string()),
            other => StoreError::InvalidRequest(other.to_string()),
        }
    }
}

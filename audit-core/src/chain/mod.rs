//! The hash chain that makes tampering detectable.
//!
//! Every stored event carries `hash = H(prev_hash ‖ canonical_bytes(event))`, where `H` is
//! SHA-256, or HMAC-SHA256 when a key is configured (then a database writer without the key
//! cannot forge a chain). The encoding is specified in `docs/chain.md` and is independent of
//! the backend, so a chain written by one store verifies in another.

mod canonical;
mod hash;
mod hasher;
mod parallel;
#[cfg(test)]
mod test_chain;
mod verify;

pub use canonical::{CANONICAL_VERSION, canonical_bytes};
pub use hash::{ChainHash, ParseHashError};
pub use hasher::{ChainAlgorithm, ChainHasher};
pub use parallel::{Parallelism, ReadRecord, verify_parallel};
pub use verify::{
    ChainAnchor, ChainFault, ChainVerifier, Checkpoint, FaultKind, HashedRecord, VerifyReport,
    verify,
};

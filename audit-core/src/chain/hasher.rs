//! SHA-256 or HMAC-SHA256 over `prev_hash ‖ canonical_bytes(event)`.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::{ChainHash, canonical_bytes};
use crate::event::AuditEvent;

/// Which function links the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainAlgorithm {
    /// Plain SHA-256: detects accidental and naive changes; anyone can recompute it.
    Sha256,
    /// HMAC-SHA256 with a secret key: a writer without the key cannot forge a valid chain.
    HmacSha256,
}

impl ChainAlgorithm {
    /// The stable name stored beside a chain (`sha256`, `hmac-sha256`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::HmacSha256 => "hmac-sha256",
        }
    }
}

/// Computes chain hashes.
///
/// ```
/// use audit_core::{AuditEvent, chain::{ChainHash, ChainHasher}};
///
/// let event = AuditEvent::builder("USER_LOGIN").build();
/// let plain = ChainHasher::sha256().hash(&ChainHash::ZERO, &event);
/// let keyed = ChainHasher::hmac_sha256(b"secret").hash(&ChainHash::ZERO, &event);
/// assert_ne!(plain, keyed);
/// ```
#[derive(Clone)]
pub struct ChainHasher {
    key: Option<Hmac<Sha256>>,
}

impl ChainHasher {
    /// Plain SHA-256.
    pub fn sha256() -> Self {
        Self { key: None }
    }

    /// HMAC-SHA256 keyed with `key` (any length; 32 random bytes recommended).
    pub fn hmac_sha256(key: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok();
        Self { key: mac }
    }

    /// Which algorithm this hasher uses.
    pub fn algorithm(&self) -> ChainAlgorithm {
        if self.key.is_some() {
            ChainAlgorithm::HmacSha256
        } else {
            ChainAlgorithm::Sha256
        }
    }

    /// `H(prev ‖ canonical_bytes(event))`.
    pub fn hash(&self, prev: &ChainHash, event: &AuditEvent) -> ChainHash {
        let mut buf = Vec::with_capacity(384);
        buf.extend_from_slice(prev.as_bytes());
        canonical_bytes(event, &mut buf);
        self.hash_bytes(&buf)
    }

    /// Like [`hash`](Self::hash), but reuses `scratch` for the encoding, so hashing many
    /// events (a batch write, a verification) allocates nothing per event.
    pub fn hash_with_scratch(
        &self,
        prev: &ChainHash,
        event: &AuditEvent,
        scratch: &mut Vec<u8>,
    ) -> ChainHash {
        scratch.clear();
        scratch.extend_from_slice(prev.as_bytes());
        canonical_bytes(event, scratch);
        self.hash_bytes(scratch)
    }

    /// `H(bytes)`, for callers that already hold `prev ‖ canonical_bytes`.
    pub fn hash_bytes(&self, bytes: &[u8]) -> ChainHash {
        let mut out = [0u8; 32];
        match &self.key {
            None => out.copy_from_slice(&Sha256::digest(bytes)),
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(bytes);
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        ChainHash(out)
    }
}

impl Default for ChainHasher {
    fn default() -> Self {
        Self::sha256()
    }
}

impl fmt::Debug for ChainHasher {
    // Never print the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainHasher")
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

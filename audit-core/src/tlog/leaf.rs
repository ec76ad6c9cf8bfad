//! The tree's leaves: what each event contributes (docs/chain.md, section 6).

use crate::chain::{ChainHash, canonical_bytes};
use crate::event::AuditEvent;

/// The version of the leaf entry: `entry(e) = canonical_bytes(e)` of the chain's encoding
/// version 1 (which begins with its own version byte, `0x01`).
pub const LEAF_VERSION: u8 = 1;

/// The RFC 6962 leaf hash of an event: `SHA-256(0x00 ‖ canonical_bytes(event))`.
///
/// The leaf of the event at `seq` sits at index `seq - 1` of the tree, so a tree of size `n`
/// covers the events `1..=n`. The entry is the event's canonical bytes, not its chain hash,
/// so that anyone holding the verifying key can check an event against a signed checkpoint
/// with SHA-256 alone, even when the chain is keyed with HMAC.
///
/// ```
/// use audit_core::{AuditEvent, tlog::leaf_hash};
///
/// let event = AuditEvent::builder("USER_LOGIN").build();
/// assert_ne!(leaf_hash(&event), leaf_hash(&AuditEvent::builder("USER_LOGOUT").build()));
/// ```
pub fn leaf_hash(event: &AuditEvent) -> ChainHash {
    let mut scratch = Vec::with_capacity(384);
    leaf_hash_with_scratch(event, &mut scratch)
}

/// [`leaf_hash`] reusing `scratch` for the encoding (no allocation per event in a loop).
pub fn leaf_hash_with_scratch(event: &AuditEvent, scratch: &mut Vec<u8>) -> ChainHash {
    scratch.clear();
    canonical_bytes(event, scratch);
    leaf_hash_of_entry(scratch)
}

/// The leaf hash of an already encoded entry (an event's canonical bytes).
pub fn leaf_hash_of_entry(entry: &[u8]) -> ChainHash {
    ChainHash(tlog_tiles::record_hash(entry).0)
}

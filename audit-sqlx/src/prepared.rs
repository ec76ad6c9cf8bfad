//! An event made ready for the chain before the head lock is taken.

use audit_core::chain::{ChainHash, canonical_bytes};
use audit_core::{AuditEvent, ChainHasher};
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::metadata::{NumberForm, normalize};

/// What a backend's columns can hold, checked before any database work.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StorageRules {
    /// How the metadata column prints numbers back.
    pub numbers: NumberForm,
    /// The times the timestamp column can hold, inclusive (`None`: any chrono time).
    pub time_range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A validated event whose metadata is in the form the database gives back and whose
/// canonical bytes are already encoded, so only the hashing itself happens while other
/// writers wait for the head lock.
pub(crate) struct Prepared {
    pub event: AuditEvent,
    pub metadata_json: String,
    canonical: Vec<u8>,
    /// The event's Merkle leaf hash (audit_core::tlog), also computed before the lock.
    pub leaf: ChainHash,
}

impl Prepared {
    pub fn new(event: &AuditEvent, rules: &StorageRules) -> Result<Self> {
        event.validate()?;
        if let Some((min, max)) = rules.time_range
            && (event.occurred_at < min || event.occurred_at > max)
        {
            return Err(Error::Unstorable {
                field: "occurred_at",
                reason: format!(
                    "{} is outside the column's range {min} ..= {max}",
                    event.occurred_at
                ),
            });
        }
        let mut event = event.clone();
        normalize(&mut event.metadata, rules.numbers)?;
        let metadata_json = serde_json::to_string(&event.metadata)
            .map_err(|err| Error::Metadata(err.to_string()))?;
        let mut canonical = Vec::with_capacity(32 + 256);
        canonical.extend_from_slice(&[0; 32]);
        canonical_bytes(&event, &mut canonical);
        let leaf = audit_core::tlog::leaf_hash_of_entry(&canonical[32..]);
        Ok(Self {
            event,
            metadata_json,
            canonical,
            leaf,
        })
    }

    /// Prepares every event of a batch, or fails on the first one that cannot be stored.
    pub fn batch(events: &[AuditEvent], rules: &StorageRules) -> Result<Vec<Self>> {
        events.iter().map(|e| Self::new(e, rules)).collect()
    }

    /// `H(prev ‖ canonical_bytes)`.
    pub fn hash(&mut self, hasher: &ChainHasher, prev: &ChainHash) -> ChainHash {
        self.canonical[..32].copy_from_slice(prev.as_bytes());
        hasher.hash_bytes(&self.canonical)
    }
}

/// A prepared event with its assigned place in the chain.
pub(crate) struct Chained<'a> {
    pub row: &'a Prepared,
    pub seq: u64,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

//! Linking a batch after the chain head: the part of an append that is the same for every
//! backend (the head lock, the insert and the head update around it are each backend's own).

use std::collections::HashMap;
use std::fmt::Display;

use audit_core::chain::ChainHash;
use audit_core::{ChainHasher, ChainPosition};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::prepared::{Chained, Prepared};

/// The chain head row, as read under its lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: ChainHash,
}

impl Head {
    /// The head row's fields, checked: a 32-byte hash, and the chain's algorithm (set by the
    /// first write) equal to the store's.
    pub fn from_row(
        seq: u64,
        hash: &[u8],
        algorithm: Option<&str>,
        hasher: &ChainHasher,
        place: &dyn Display,
    ) -> Result<Self> {
        let wanted = hasher.algorithm().as_str();
        if let Some(algorithm) = algorithm.filter(|a| *a != wanted) {
            return Err(Error::Schema(format!(
                "the chain in {place} is linked with {algorithm}, but this store is \
                 configured for {wanted}"
            )));
        }
        let hash = ChainHash::from_slice(hash)
            .map_err(|err| Error::Schema(format!("chain head hash in {place}: {err}")))?;
        Ok(Self { seq, hash })
    }
}

/// A batch linked after the head: every event's position, in batch order, and the new rows.
pub(crate) struct Linked {
    pub positions: Vec<ChainPosition>,
    /// `(index into the batch, seq, prev_hash, hash)` of each event to insert.
    links: Vec<(usize, u64, ChainHash, ChainHash)>,
    /// The head after the batch.
    pub head: Head,
}

impl Linked {
    /// Links `rows` after `head`, starting at seq `first_seq` (`head.seq + 1` unless rows not
    /// written through the head occupy seqs beyond it). Events in `stored` (a retried batch)
    /// keep their stored position and are not linked again; the same id twice in one batch
    /// counts once.
    pub fn new(
        rows: &mut [Prepared],
        hasher: &ChainHasher,
        head: Head,
        first_seq: u64,
        mut stored: HashMap<Uuid, ChainPosition>,
        place: &dyn Display,
    ) -> Self {
        let already = stored.len();
        let mut prev = head.hash;
        let mut seq = first_seq.saturating_sub(1);
        let mut positions = Vec::with_capacity(rows.len());
        let mut links = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter_mut().enumerate() {
            if let Some(pos) = stored.get(&row.event.id) {
                positions.push(*pos);
                continue;
            }
            seq += 1;
            let hash = row.hash(hasher, &prev);
            let pos = ChainPosition { seq, hash };
            stored.insert(row.event.id, pos);
            positions.push(pos);
            links.push((i, seq, prev, hash));
            prev = hash;
        }
        if already > 0 {
            tracing::warn!(
                store = %place,
                already,
                "audit batch held events that are already stored (a retried commit); \
                 acknowledged with their stored positions"
            );
        }
        let head = match links.last() {
            Some(&(_, seq, _, hash)) => Head { seq, hash },
            None => head,
        };
        Self {
            positions,
            links,
            head,
        }
    }

    /// Whether nothing is left to insert.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The rows to insert, in seq order.
    pub fn rows<'a>(&self, rows: &'a [Prepared]) -> Vec<Chained<'a>> {
        self.links
            .iter()
            .map(|&(i, seq, prev_hash, hash)| Chained {
                row: &rows[i],
                seq,
                prev_hash,
                hash,
            })
            .collect()
    }
}

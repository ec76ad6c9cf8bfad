//! Go's stored-hash layout, one row per leaf.
//!
//! `tlog_tiles` (a port of `golang.org/x/mod/sumdb/tlog`) numbers every node of every
//! complete subtree with a dense *stored-hash index*; appending the leaf at index `n` stores
//! its leaf hash and the hash of each subtree it completes (`1 + trailing_ones(n)` hashes,
//! two on average). This module keeps those hashes grouped by the leaf that wrote them: row
//! `seq` (leaf index `seq - 1`) holds them in level order, so a backend stores one row per
//! event, in the same transaction as the event, and reads any node back by its index.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use tlog_tiles::{Hash, HashReader};

use super::TreeError;
use crate::chain::ChainHash;

/// The hashes stored with one leaf: its leaf hash, then the hash of each subtree whose last
/// leaf it is, smallest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    /// The event's seq (its leaf index plus one).
    pub seq: u64,
    /// `1 + trailing_zeros(seq)` hashes.
    pub hashes: Vec<ChainHash>,
}

impl TreeRow {
    /// How many hashes the row of `seq` holds.
    pub fn len_for(seq: u64) -> usize {
        1 + seq.trailing_zeros() as usize
    }

    /// The row as stored: its hashes concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.hashes.len() * 32);
        self.write_bytes(&mut out);
        out
    }

    /// Appends the row as stored to `out` (a store keeping several rows in one value).
    ///
    /// ```
    /// use audit_core::chain::ChainHash;
    /// use audit_core::tlog::TreeRow;
    ///
    /// let row = TreeRow { seq: 2, hashes: vec![ChainHash::default(); 2] };
    /// let mut run = vec![7u8; 32];
    /// row.write_bytes(&mut run);
    /// assert_eq!(run.len(), 96);
    /// assert_eq!(&run[32..], &row.to_bytes()[..]);
    /// ```
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        for hash in &self.hashes {
            out.extend_from_slice(hash.as_bytes());
        }
    }

    /// Reads a stored row back, checking its length.
    pub fn from_bytes(seq: u64, bytes: &[u8]) -> Result<Self, TreeError> {
        if seq == 0 || bytes.len() != Self::len_for(seq) * 32 {
            return Err(TreeError::CorruptRow {
                seq,
                detail: format!(
                    "{} bytes, expected {}",
                    bytes.len(),
                    Self::len_for(seq.max(1)) * 32
                ),
            });
        }
        let hashes = bytes
            .chunks_exact(32)
            .map(|c| ChainHash::from_slice(c).unwrap_or_default())
            .collect();
        Ok(Self { seq, hashes })
    }

    /// The leaf hash (level 0).
    pub fn leaf(&self) -> ChainHash {
        self.hashes.first().copied().unwrap_or_default()
    }
}

/// Where the node with stored-hash `index` lives: the row's seq and the position in it.
pub(crate) fn locate(index: u64) -> (u64, usize) {
    let (level, n) = tlog_tiles::split_stored_hash_index(index);
    (((n + 1) << level), usize::from(level))
}

/// A reader that only records which rows it is asked for and answers with zero hashes.
pub(crate) struct Recording(RefCell<BTreeSet<u64>>);

impl HashReader for Recording {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut seen = self.0.borrow_mut();
        seen.extend(indexes.iter().map(|&i| locate(i).0));
        Ok(vec![Hash::default(); indexes.len()])
    }
}

/// The rows an operation of `tlog_tiles` reads, found by running it over a [`Recording`]
/// (the index arithmetic depends on sizes alone). Lets async backends fetch every row in one
/// query before the proof is built.
pub(crate) fn rows_needed<T>(
    op: impl FnOnce(&Recording) -> Result<T, tlog_tiles::Error>,
) -> Result<Vec<u64>, TreeError> {
    let recording = Recording(RefCell::new(BTreeSet::new()));
    op(&recording)?;
    Ok(recording.0.into_inner().into_iter().collect())
}

/// Answers `tlog_tiles` from rows already fetched.
pub(crate) struct RowReader<'a> {
    rows: &'a HashMap<u64, TreeRow>,
}

impl<'a> RowReader<'a> {
    pub(crate) fn new(rows: &'a HashMap<u64, TreeRow>) -> Self {
        Self { rows }
    }
}

impl HashReader for RowReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&index| {
                let (seq, offset) = locate(index);
                self.rows
                    .get(&seq)
                    .and_then(|row| row.hashes.get(offset))
                    .map(|h| Hash(h.0))
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// The right edge of the tree: the hashes of the maximal complete subtrees that cover its
/// leaves, largest first. It is all an append needs (each new leaf reads only these), and all
/// the root needs, so a writer keeps it in memory and rebuilds it from at most `log2(n)` rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(stored-hash index, hash)` of each subtree, largest (leftmost) first.
    nodes: Vec<(u64, ChainHash)>,
}

impl HashReader for Frontier {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|index| {
                self.nodes
                    .iter()
                    .find(|(i, _)| i == index)
                    .map(|(_, h)| Hash(h.0))
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The seqs of the rows that hold the frontier of a tree of `size` leaves.
    pub fn rows_for(size: u64) -> Vec<u64> {
        let mut seqs: Vec<u64> = tlog_tiles::sub_tree_index(0, size, Vec::new())
            .into_iter()
            .map(|i| locate(i).0)
            .collect();
        seqs.dedup();
        seqs
    }

    /// Rebuilds the frontier of a tree of `size` leaves from the rows named by
    /// [`rows_for`](Self::rows_for).
    pub fn from_rows(size: u64, rows: &HashMap<u64, TreeRow>) -> Result<Self, TreeError> {
        let indexes = tlog_tiles::sub_tree_index(0, size, Vec::new());
        let hashes = RowReader::new(rows)
            .read_hashes(&indexes)
            .map_err(|_| TreeError::MissingRows { size })?;
        Ok(Self {
            size,
            nodes: indexes
                .into_iter()
                .zip(hashes)
                .map(|(i, h)| (i, ChainHash(h.0)))
                .collect(),
        })
    }

    /// The frontier's subtree hashes, largest first (what a bundle carries for the leaves
    /// before its range).
    pub fn hashes(&self) -> Vec<ChainHash> {
        self.nodes.iter().map(|(_, h)| *h).collect()
    }

    /// Rebuilds a frontier from its hashes as [`hashes`](Self::hashes) gave them; `None` when
    /// their number does not fit `size`.
    pub fn from_hashes(size: u64, hashes: &[ChainHash]) -> Option<Self> {
        let indexes = tlog_tiles::sub_tree_index(0, size, Vec::new());
        (indexes.len() == hashes.len()).then(|| Self {
            size,
            nodes: indexes.into_iter().zip(hashes.iter().copied()).collect(),
        })
    }

    /// Appends a leaf and returns the row it stores (its leaf hash and every subtree it
    /// completes): `O(log n)` at worst, two hashes on average.
    pub fn append(&mut self, leaf: ChainHash) -> TreeRow {
        let n = self.size;
        // The frontier holds every hash this reads, so it cannot fail.
        let hashes = tlog_tiles::stored_hashes_for_record_hash(n, Hash(leaf.0), &*self)
            .unwrap_or_else(|_| vec![Hash(leaf.0)]);
        let completed = hashes.len() - 1;
        self.nodes
            .truncate(self.nodes.len().saturating_sub(completed));
        let level = u8::try_from(completed).unwrap_or(u8::MAX);
        let top = hashes[completed];
        self.nodes.push((
            tlog_tiles::stored_hash_index(level, n >> level),
            ChainHash(top.0),
        ));
        self.size = n + 1;
        TreeRow {
            seq: n + 1,
            hashes: hashes.into_iter().map(|h| ChainHash(h.0)).collect(),
        }
    }

    /// The root hash of the tree (RFC 6962 `MTH`; the empty tree's is `SHA-256("")`).
    pub fn root(&self) -> ChainHash {
        tlog_tiles::tree_hash(self.size, self)
            .map(|h| ChainHash(h.0))
            .unwrap_or_default()
    }

    /// The tree's size and root.
    pub fn head(&self) -> super::TreeHead {
        super::TreeHead {
            size: self.size,
            root: self.root(),
        }
    }
}

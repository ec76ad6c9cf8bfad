//! Verification of a stored chain: names the first bad `seq` and the kind of fault.
//!
//! The canonical encoding leaves `seq` out, so the order of records is carried only by
//! `prev_hash`. That is what lets the verifier tell faults apart: it streams records in `seq`
//! order with a one-record look-ahead, and judges each record `r` by its predecessor `p` (the
//! last record that verified, or the anchor) and its successor `n`:
//!
//! | what is seen | fault at `r.seq` |
//! | --- | --- |
//! | `r.prev_hash != p.hash`, `n.hash == r.prev_hash` and `n.prev_hash == p.hash` | [`Reordered`](FaultKind::Reordered) (two adjacent rows swapped) |
//! | `n.prev_hash == p.hash` (the chain skips `r`) | [`Inserted`](FaultKind::Inserted) |
//! | `r.hash` differs from the recomputed hash | [`Modified`](FaultKind::Modified) |
//! | link broken, `r` consistent, `n` links to `r` (or `r` is last) | [`Missing`](FaultKind::Missing) (a record before `r` removed, the rest renumbered) |
//! | link broken, `r` consistent, `n` does not link to `r` | [`Reordered`](FaultKind::Reordered) (`r` belongs elsewhere) |
//!
//! Sequence numbers are checked first: a gap is [`Missing`](FaultKind::Missing) at the first
//! absent seq, a repeated seq is [`Inserted`](FaultKind::Inserted), a decreasing one
//! [`Reordered`](FaultKind::Reordered).
//!
//! Limits (see `docs/chain.md`): with plain SHA-256 anyone can rewrite a record *and*
//! recompute its hash; the following record then no longer links and the fault is reported
//! as `Missing` one seq later. With HMAC-SHA256 such a rewrite is `Modified` at the right seq.
//! A record appended at the tail with a valid SHA-256 hash is indistinguishable from a real
//! one; removing tail records is only visible against a [`Checkpoint`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ChainHash, ChainHasher};
use crate::event::{StoredEvent, now_micros};

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
    /// A checkpoint was given but could not be compared: it lies before the verified range,
    /// or it is inside the range but was not registered with
    /// [`ChainVerifier::with_checkpoint`] before the records were pushed. Verification fails
    /// closed rather than silently skipping the check.
    Unverifiable,
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
///
/// Memory is constant: the verifier keeps the last verified record's position, one pending
/// record's hashes (the look-ahead) and a reused encoding buffer. Because it cannot keep
/// every hash, a checkpoint that lies *inside* the verified range must be registered before
/// streaming with [`with_checkpoint`](Self::with_checkpoint); one at or after the last record
/// can also be given to [`finish`](Self::finish) alone.
///
/// ```
/// use audit_core::{AuditEvent, StoredEvent, chain::{ChainHash, ChainHasher, ChainVerifier}};
///
/// let hasher = ChainHasher::sha256();
/// let event = AuditEvent::builder("USER_LOGIN").build();
/// let hash = hasher.hash(&ChainHash::ZERO, &event);
/// let record = StoredEvent { seq: 1, prev_hash: ChainHash::ZERO, hash, event };
///
/// let mut verifier = ChainVerifier::new(hasher);
/// verifier.push(&record).unwrap();
/// let report = verifier.finish(None);
/// assert!(report.is_valid());
/// assert_eq!(report.checked, 1);
/// assert_eq!(report.head.unwrap().hash, hash);
/// ```
pub struct ChainVerifier {
    hasher: ChainHasher,
    anchor: ChainAnchor,
    /// The last record that verified (the anchor until one does).
    last: ChainAnchor,
    /// The record under judgement, waiting for its successor.
    pending: Option<Pending>,
    /// Two intact records that both follow `last`, waiting for the record that tells which
    /// one was inserted.
    fork: Option<(Pending, Pending)>,
    checked: u64,
    fault: Option<ChainFault>,
    checkpoint: Option<Checkpoint>,
    /// Whether the registered checkpoint's record was verified and matched.
    checkpoint_matched: bool,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for ChainVerifier {
    // Leaves out the encoding buffer, which is only scratch space.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainVerifier")
            .field("hasher", &self.hasher)
            .field("anchor", &self.anchor)
            .field("last", &self.last)
            .field("pending", &self.pending)
            .field("fork", &self.fork)
            .field("checked", &self.checked)
            .field("fault", &self.fault)
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

/// A record reduced to what linking needs: its seq, its two stored hashes, and whether its
/// content still matches its stored hash (recomputed from its *stored* `prev_hash`).
///
/// Re-hashing is the expensive part of verification and depends on one record alone, so it
/// can run anywhere (on worker threads: [`ChainVerifier::push_parallel`]); linking the
/// results in order with [`ChainVerifier::push_hashed`] is cheap. It is also what the
/// verifier keeps of a record while it waits for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedRecord {
    /// The record's seq.
    pub seq: u64,
    /// Its stored `prev_hash`.
    pub prev_hash: ChainHash,
    /// Its stored `hash`.
    pub hash: ChainHash,
    /// Whether `hash` equals the hash recomputed from the record's content and `prev_hash`.
    pub consistent: bool,
}

impl HashedRecord {
    /// Re-hashes `record` with `hasher`, using `scratch` for the encoding (so hashing many
    /// records allocates nothing per record).
    pub fn new(hasher: &ChainHasher, record: &StoredEvent, scratch: &mut Vec<u8>) -> Self {
        Self {
            seq: record.seq,
            prev_hash: record.prev_hash,
            hash: record.hash,
            consistent: hasher.hash_with_scratch(&record.prev_hash, &record.event, scratch)
                == record.hash,
        }
    }
}

/// What the verifier keeps of a record while it waits for the next one.
type Pending = HashedRecord;

fn fault(seq: u64, kind: FaultKind, detail: String) -> ChainFault {
    ChainFault { seq, kind, detail }
}

/// The fault of a fork: `r` and `n` (its successor by seq) both follow the same record.
/// The record after them, `after`, links to the genuine one. Without it (the end of the
/// chain, or a record linking to neither) nothing tells them apart under plain SHA-256 (with
/// an HMAC key the forged one does not verify, and there is no fork): the earlier one is
/// named, and the detail says it is a guess.
fn fork_fault(r: Pending, n: Pending, after: Option<&Pending>) -> ChainFault {
    let (inserted, genuine) = match after {
        // Identical rows (the same id too) cannot be told apart: the first is named.
        Some(m) if m.prev_hash == r.hash && r.hash != n.hash => (n, r),
        _ => (r, n),
    };
    let why = match after {
        Some(m) if m.prev_hash == inserted.hash || m.prev_hash == genuine.hash => {
            format!("record {} continues from record {}", m.seq, genuine.seq)
        }
        _ => format!(
            "nothing continues from either, so record {} is named by its place",
            inserted.seq
        ),
    };
    fault(
        inserted.seq,
        FaultKind::Inserted,
        format!(
            "records {} and {} both follow the same record, so one was inserted: {why}",
            genuine.seq.min(inserted.seq),
            genuine.seq.max(inserted.seq)
        ),
    )
}

impl ChainVerifier {
    /// Verifies a chain from its genesis.
    pub fn new(hasher: ChainHasher) -> Self {
        Self::from_anchor(hasher, ChainAnchor::GENESIS)
    }

    /// Verifies records that follow `anchor`.
    pub fn from_anchor(hasher: ChainHasher, anchor: ChainAnchor) -> Self {
        Self {
            hasher,
            anchor,
            last: anchor,
            pending: None,
            fork: None,
            checked: 0,
            fault: None,
            checkpoint: None,
            checkpoint_matched: false,
            scratch: Vec::with_capacity(512),
        }
    }

    /// Registers a checkpoint to compare while streaming: the record at `checkpoint.seq`
    /// must carry `checkpoint.hash` (else the log was rewritten: [`FaultKind::Modified`]),
    /// and the chain must reach it (else [`FaultKind::Truncated`]). It is then also the
    /// default for [`finish`](Self::finish).
    pub fn with_checkpoint(mut self, checkpoint: Option<&Checkpoint>) -> Self {
        self.checkpoint = checkpoint.copied();
        self
    }

    /// How many records have verified so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The first fault, once one is known.
    pub fn fault(&self) -> Option<&ChainFault> {
        self.fault.as_ref()
    }

    /// The hasher records are re-hashed with.
    pub fn hasher(&self) -> &ChainHasher {
        &self.hasher
    }

    /// Checks the next record. Returns the first fault once one is known; later calls keep
    /// returning it.
    ///
    /// A record is judged when its successor arrives (or at [`finish`](Self::finish)), so a
    /// fault in record `k` is returned by the push of record `k + 1`.
    pub fn push(&mut self, record: &StoredEvent) -> Result<(), ChainFault> {
        if let Some(fault) = &self.fault {
            return Err(fault.clone());
        }
        let incoming = HashedRecord::new(&self.hasher, record, &mut self.scratch);
        self.link(incoming)
    }

    /// Like [`push`](Self::push), for a record already re-hashed (elsewhere, with this
    /// verifier's hasher): only the linking is done here. Pushing `HashedRecord::new(&hasher,
    /// &r, ..)` for each record gives exactly the report of pushing each `r`.
    pub fn push_hashed(&mut self, record: HashedRecord) -> Result<(), ChainFault> {
        if let Some(fault) = &self.fault {
            return Err(fault.clone());
        }
        self.link(record)
    }

    /// Links the next record and latches the first fault.
    fn link(&mut self, incoming: HashedRecord) -> Result<(), ChainFault> {
        let result = self.step(incoming);
        if let Err(fault) = &result {
            self.fault = Some(fault.clone());
        }
        result
    }

    fn step(&mut self, incoming: Pending) -> Result<(), ChainFault> {
        if let Some((r, n)) = self.fork.take() {
            // Two intact records both follow the last verified one; whichever `incoming`
            // continues from is the genuine one, and the other was inserted.
            return Err(fork_fault(r, n, Some(&incoming)));
        }
        let last_seq = self.pending.map_or(self.last.seq, |p| p.seq);
        let expected = last_seq.saturating_add(1);
        if incoming.seq == expected {
            if let Some(pending) = self.pending.take() {
                if self.forks(&pending, &incoming) {
                    self.fork = Some((pending, incoming));
                    return Ok(());
                }
                self.judge(pending, Some(&incoming))?;
            }
            self.pending = Some(incoming);
            return Ok(());
        }
        // The pending record has the lower seq, so it is judged first. A twin with the same
        // seq may still reveal it as the inserted one (when the twin links to its
        // predecessor); any other record is not its successor and tells nothing about it.
        if let Some(pending) = self.pending.take() {
            let twin = (incoming.seq == pending.seq).then_some(&incoming);
            self.judge(pending, twin)?;
        }
        Err(if incoming.seq > expected {
            fault(
                expected,
                FaultKind::Missing,
                format!(
                    "seq {expected} is missing: the next record has seq {}",
                    incoming.seq
                ),
            )
        } else if incoming.seq == last_seq && last_seq > self.anchor.seq {
            fault(
                incoming.seq,
                FaultKind::Inserted,
                format!("a second record claims seq {}", incoming.seq),
            )
        } else {
            fault(
                incoming.seq,
                FaultKind::Reordered,
                format!(
                    "record {} comes after seq {last_seq}: records are out of order",
                    incoming.seq
                ),
            )
        })
    }

    /// Records that the store holds a record at `seq` that cannot be decoded into an event:
    /// it was changed behind the store's back. The records before it are judged first (they
    /// may hold the first fault); otherwise it is [`FaultKind::Modified`] at `seq`. Returns
    /// the fault, which [`finish`](Self::finish) then reports (rather than a truncation at
    /// a checkpoint beyond it).
    pub fn undecodable(&mut self, seq: u64, detail: impl Into<String>) -> ChainFault {
        if let Some(fault) = &self.fault {
            return fault.clone();
        }
        let earlier = match (self.fork.take(), self.pending.take()) {
            (Some((r, n)), _) => Some(fork_fault(r, n, None)),
            (None, Some(pending)) => self.judge(pending, None).err(),
            (None, None) => None,
        };
        let fault = earlier.unwrap_or_else(|| {
            fault(
                seq,
                FaultKind::Modified,
                format!("record {seq} cannot be decoded: {}", detail.into()),
            )
        });
        self.fault = Some(fault.clone());
        fault
    }

    /// Whether `r` and its successor `n` are both intact and both link to the last verified
    /// record: one of them was inserted (a copy of a record given a new id, say), and only
    /// the record after them tells which.
    fn forks(&self, r: &Pending, n: &Pending) -> bool {
        r.consistent
            && n.consistent
            && r.prev_hash == self.last.hash
            && n.prev_hash == self.last.hash
    }

    /// Decides whether `r` verifies, given its successor `next` when there is one.
    fn judge(&mut self, r: Pending, next: Option<&Pending>) -> Result<(), ChainFault> {
        let p = self.last;
        let linked = r.prev_hash == p.hash;
        if let Some(n) = next {
            if !linked && n.hash == r.prev_hash && n.prev_hash == p.hash {
                return Err(fault(
                    r.seq,
                    FaultKind::Reordered,
                    format!("records {} and {} are swapped", r.seq, n.seq),
                ));
            }
            if n.prev_hash == p.hash {
                return Err(fault(
                    r.seq,
                    FaultKind::Inserted,
                    format!(
                        "record {} is not part of the chain: record {} links to record {}",
                        r.seq, n.seq, p.seq
                    ),
                ));
            }
        }
        if !r.consistent {
            return Err(fault(
                r.seq,
                FaultKind::Modified,
                format!(
                    "record {}'s content does not match its hash{}",
                    r.seq,
                    if linked { "" } else { " or its link" }
                ),
            ));
        }
        if !linked {
            return Err(match next {
                Some(n) if n.prev_hash != r.hash => fault(
                    r.seq,
                    FaultKind::Reordered,
                    format!(
                        "record {} belongs elsewhere: it links neither to record {} nor from \
                         record {}",
                        r.seq, p.seq, n.seq
                    ),
                ),
                // Ambiguous by nature: the record is intact but its predecessor is not the
                // one it was chained to, so at least one record before it was removed and the
                // rest renumbered (or, with SHA-256, the predecessor was rewritten and
                // rehashed).
                _ => fault(
                    r.seq,
                    FaultKind::Missing,
                    format!(
                        "record {} links to a record that is not there: a record after {} was \
                         removed (or record {} was rewritten)",
                        r.seq, p.seq, p.seq
                    ),
                ),
            });
        }
        if let Some(cp) = &self.checkpoint
            && cp.seq == r.seq
        {
            if cp.hash != r.hash {
                return Err(fault(
                    r.seq,
                    FaultKind::Modified,
                    format!(
                        "record {} differs from the checkpoint taken at {}: the log was \
                             rewritten",
                        r.seq, cp.taken_at
                    ),
                ));
            }
            self.checkpoint_matched = true;
        }
        self.last = ChainAnchor {
            seq: r.seq,
            hash: r.hash,
        };
        self.checked += 1;
        Ok(())
    }

    /// Ends verification; `checkpoint` (or, when `None`, the one registered with
    /// [`with_checkpoint`](Self::with_checkpoint)) must lie within the chain and match its
    /// record's hash, or the tail was truncated ([`FaultKind::Truncated`]) or the log
    /// rewritten ([`FaultKind::Modified`]).
    ///
    /// The end of the pushed records is taken as the end of the chain; a checkpoint inside
    /// the range that was not registered before streaming gives
    /// [`FaultKind::Unverifiable`].
    pub fn finish(mut self, checkpoint: Option<&Checkpoint>) -> VerifyReport {
        if self.fault.is_none()
            && let Some((r, n)) = self.fork.take()
        {
            self.fault = Some(fork_fault(r, n, None));
        }
        if self.fault.is_none()
            && let Some(pending) = self.pending.take()
            && let Err(fault) = self.judge(pending, None)
        {
            self.fault = Some(fault);
        }
        if self.fault.is_none()
            && let Some(cp) = checkpoint.copied().or(self.checkpoint)
        {
            self.fault = self.check_checkpoint(&cp);
        }
        VerifyReport {
            checked: self.checked,
            head: (self.checked > 0).then(|| Checkpoint {
                seq: self.last.seq,
                hash: self.last.hash,
                taken_at: now_micros(),
            }),
            fault: self.fault,
        }
    }

    /// Compares a checkpoint with the end of a chain that verified so far.
    fn check_checkpoint(&self, cp: &Checkpoint) -> Option<ChainFault> {
        let end = self.last;
        if cp.seq > end.seq {
            return Some(fault(
                cp.seq,
                FaultKind::Truncated,
                format!(
                    "the chain ends at seq {} but a checkpoint at seq {} was taken at {}",
                    end.seq, cp.seq, cp.taken_at
                ),
            ));
        }
        let known = if cp.seq == end.seq {
            Some(end.hash)
        } else if cp.seq == self.anchor.seq {
            Some(self.anchor.hash)
        } else if self.checkpoint.is_some_and(|c| c.seq == cp.seq) && self.checkpoint_matched {
            self.checkpoint.map(|c| c.hash)
        } else {
            None
        };
        match known {
            Some(hash) if hash == cp.hash => None,
            Some(_) => Some(fault(
                cp.seq,
                FaultKind::Modified,
                format!(
                    "record {} differs from the checkpoint taken at {}: the log was rewritten",
                    cp.seq, cp.taken_at
                ),
            )),
            None => Some(fault(
                cp.seq,
                FaultKind::Unverifiable,
                if cp.seq < self.anchor.seq {
                    format!(
                        "the checkpoint at seq {} lies before the verified range (anchor {})",
                        cp.seq, self.anchor.seq
                    )
                } else {
                    format!(
                        "the checkpoint at seq {} was not registered with \
                         ChainVerifier::with_checkpoint before streaming",
                        cp.seq
                    )
                },
            )),
        }
    }
}

/// Verifies `records` (in `seq` order) from `anchor`, against an optional checkpoint.
pub fn verify<'a>(
    hasher: ChainHasher,
    anchor: ChainAnchor,
    records: impl IntoIterator<Item = &'a StoredEvent>,
    checkpoint: Option<&Checkpoint>,
) -> VerifyReport {
    let mut verifier = ChainVerifier::from_anchor(hasher, anchor).with_checkpoint(checkpoint);
    for record in records {
        if verifier.push(record).is_err() {
            break;
        }
    }
    verifier.finish(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::super::test_chain::*;
    use super::*;

    /// Every verification in these tests also runs on four threads, with chunk boundaries
    /// everywhere, and must give the same report.
    fn verify(
        hasher: ChainHasher,
        anchor: ChainAnchor,
        records: &[StoredEvent],
        checkpoint: Option<&Checkpoint>,
    ) -> VerifyReport {
        verify_every_way(hasher, anchor, records, checkpoint)
    }

    fn check(hasher: &ChainHasher, records: &[StoredEvent]) -> VerifyReport {
        verify(hasher.clone(), ChainAnchor::GENESIS, records, None)
    }

    #[track_caller]
    fn assert_fault(report: &VerifyReport, seq: u64, kind: FaultKind) {
        let fault = report.fault.as_ref().expect("a fault");
        assert_eq!((fault.seq, fault.kind), (seq, kind), "{}", fault.detail);
    }

    #[test]
    fn a_copy_of_a_record_given_a_new_id_is_named_not_the_genuine_record() {
        let hasher = ChainHasher::sha256();
        let mut records = chain(&hasher, 12);
        // A writer without a key copies record 10 under a new id, chains the copy to record
        // 9 like the original, puts it right after it and renumbers the rest.
        let mut copy = records[9].clone();
        copy.event.id = uuid::Uuid::now_v7();
        copy.hash = hasher.hash(&copy.prev_hash, &copy.event);
        records.insert(10, copy);
        renumber(&mut records);
        assert_fault(&check(&hasher, &records), 11, FaultKind::Inserted);
        // The copy placed before the genuine record is named too.
        let mut records = chain(&hasher, 12);
        let mut copy = records[9].clone();
        copy.event.id = uuid::Uuid::now_v7();
        copy.hash = hasher.hash(&copy.prev_hash, &copy.event);
        records.insert(9, copy);
        renumber(&mut records);
        assert_fault(&check(&hasher, &records), 10, FaultKind::Inserted);
    }

    #[test]
    fn an_intact_chain_verifies_with_its_head_and_count() {
        for hasher in hashers() {
            let records = chain(&hasher, 10);
            let report = check(&hasher, &records);
            assert!(report.is_valid(), "{:?}", report.fault);
            assert_eq!(report.checked, 10);
            let head = report.head.unwrap();
            assert_eq!((head.seq, head.hash), (10, records[9].hash));
        }
    }

    #[test]
    fn an_empty_chain_is_valid_without_head() {
        let report = check(&ChainHasher::sha256(), &[]);
        assert!(report.is_valid());
        assert_eq!((report.checked, report.head), (0, None));
    }

    #[test]
    fn a_wrong_key_reports_the_first_record_modified() {
        let records = chain(&ChainHasher::hmac_sha256(b"right"), 3);
        let report = check(&ChainHasher::hmac_sha256(b"wrong"), &records);
        assert_fault(&report, 1, FaultKind::Modified);
    }

    #[test]
    fn a_modified_record_is_modified() {
        for hasher in hashers() {
            for at in [0, 4, 9] {
                let mut records = chain(&hasher, 10);
                records[at].event.description = Some("nothing to see".into());
                let report = check(&hasher, &records);
                assert_fault(&report, at as u64 + 1, FaultKind::Modified);
                assert_eq!(report.checked, at as u64);
            }
        }
    }

    #[test]
    fn a_changed_prev_hash_is_modified() {
        for hasher in hashers() {
            let mut records = chain(&hasher, 6);
            records[3].prev_hash = ChainHash([7; 32]);
            assert_fault(&check(&hasher, &records), 4, FaultKind::Modified);
        }
    }

    #[test]
    fn a_seq_gap_is_missing_at_the_first_absent_seq() {
        for hasher in hashers() {
            let mut records = chain(&hasher, 8);
            records.drain(3..5);
            assert_fault(&check(&hasher, &records), 4, FaultKind::Missing);
        }
    }

    #[test]
    fn a_removed_and_renumbered_record_is_missing() {
        for hasher in hashers() {
            for at in [0, 3, 6, 7] {
                let mut records = chain(&hasher, 8);
                records.remove(at);
                renumber(&mut records);
                let report = check(&hasher, &records);
                if at == 7 {
                    // Removing the tail is invisible without a checkpoint.
                    assert!(report.is_valid());
                } else {
                    assert_fault(&report, at as u64 + 1, FaultKind::Missing);
                }
            }
        }
    }

    #[test]
    fn a_forged_record_inserted_with_renumbering_is_inserted() {
        for hasher in hashers() {
            for at in [0, 3, 7] {
                let mut records = chain(&hasher, 8);
                let prev = if at == 0 {
                    ChainHash::ZERO
                } else {
                    records[at - 1].hash
                };
                records.insert(at, forged(0, prev, 99));
                renumber(&mut records);
                assert_fault(
                    &check(&hasher, &records),
                    at as u64 + 1,
                    FaultKind::Inserted,
                );
            }
        }
    }

    #[test]
    fn a_second_record_with_the_same_seq_is_inserted() {
        for hasher in hashers() {
            // Whichever of the two rows comes first.
            for at in [2, 3] {
                let mut records = chain(&hasher, 6);
                let twin = forged(3, records[1].hash, 42);
                records.insert(at, twin);
                assert_fault(&check(&hasher, &records), 3, FaultKind::Inserted);
            }
        }
    }

    #[test]
    fn a_copied_row_is_inserted() {
        for hasher in hashers() {
            let mut records = chain(&hasher, 6);
            records.insert(3, records[2].clone());
            renumber(&mut records);
            // The two rows are identical, so the first of them is named.
            assert_fault(&check(&hasher, &records), 3, FaultKind::Inserted);
        }
    }

    #[test]
    fn swapped_rows_are_reordered_at_the_first() {
        for hasher in hashers() {
            for (a, b) in [(0, 1), (3, 4), (8, 9), (2, 6), (0, 9)] {
                let mut records = chain(&hasher, 10);
                records.swap(a, b);
                renumber(&mut records);
                assert_fault(
                    &check(&hasher, &records),
                    a as u64 + 1,
                    FaultKind::Reordered,
                );
            }
        }
    }

    #[test]
    fn decreasing_seq_is_reordered() {
        let hasher = ChainHasher::sha256();
        let mut records = chain(&hasher, 5);
        records.swap(2, 3);
        assert_fault(&check(&hasher, &records), 3, FaultKind::Missing);
        let mut records = chain(&hasher, 5);
        records[3].seq = 2;
        assert_fault(&check(&hasher, &records), 2, FaultKind::Reordered);
    }

    #[test]
    fn push_reports_the_first_fault_and_keeps_it() {
        let hasher = ChainHasher::sha256();
        let mut records = chain(&hasher, 5);
        records[1].event.action = "OTHER".into();
        let mut verifier = ChainVerifier::new(hasher);
        assert!(verifier.push(&records[0]).is_ok());
        assert!(
            verifier.push(&records[1]).is_ok(),
            "judged on the next push"
        );
        let fault = verifier.push(&records[2]).unwrap_err();
        assert_eq!((fault.seq, fault.kind), (2, FaultKind::Modified));
        assert_eq!(verifier.push(&records[3]).unwrap_err(), fault);
        let report = verifier.finish(None);
        assert_eq!(report.fault, Some(fault));
        assert_eq!(report.head.unwrap().seq, 1);
    }

    #[test]
    fn an_anchored_chain_verifies_from_its_anchor_alone() {
        for hasher in hashers() {
            let full = chain(&hasher, 10);
            let anchor = ChainAnchor {
                seq: 4,
                hash: full[3].hash,
            };
            let live = &full[4..];
            let report = verify(hasher.clone(), anchor, live, None);
            assert!(report.is_valid(), "{:?}", report.fault);
            assert_eq!(report.checked, 6);
            // From genesis, the archived prefix looks removed.
            assert_fault(&check(&hasher, live), 1, FaultKind::Missing);
            // A wrong anchor hash breaks the first link.
            let wrong = ChainAnchor {
                seq: 4,
                hash: full[2].hash,
            };
            assert!(!verify(hasher.clone(), wrong, live, None).is_valid());
            // A chain anchored elsewhere by its own records only.
            let after = chain_from(&hasher, anchor, 3);
            assert!(verify(hasher.clone(), anchor, &after, None).is_valid());
        }
    }

    #[test]
    fn a_truncated_tail_is_found_against_a_checkpoint() {
        for hasher in hashers() {
            let records = chain(&hasher, 10);
            let cp = checkpoint_of(&records[9]);
            let report = verify(
                hasher.clone(),
                ChainAnchor::GENESIS,
                &records[..7],
                Some(&cp),
            );
            assert_fault(&report, 10, FaultKind::Truncated);
            assert_eq!(report.head.unwrap().seq, 7);
            assert!(verify(hasher, ChainAnchor::GENESIS, &records, Some(&cp)).is_valid());
        }
    }

    #[test]
    fn a_rewritten_log_is_found_against_a_checkpoint() {
        for hasher in hashers() {
            let records = chain(&hasher, 10);
            let cp = checkpoint_of(&records[5]);
            // A whole new, self-consistent chain with different content.
            let mut rewritten = chain_from(&hasher, ChainAnchor::GENESIS, 12);
            for r in &mut rewritten {
                r.event.id = uuid::Uuid::nil();
            }
            let mut prev = ChainHash::ZERO;
            for r in &mut rewritten {
                r.prev_hash = prev;
                r.hash = hasher.hash(&prev, &r.event);
                prev = r.hash;
            }
            assert!(check(&hasher, &rewritten).is_valid());
            let report = verify(hasher.clone(), ChainAnchor::GENESIS, &rewritten, Some(&cp));
            assert_fault(&report, 6, FaultKind::Modified);
            assert!(verify(hasher, ChainAnchor::GENESIS, &records, Some(&cp)).is_valid());
        }
    }

    #[test]
    fn a_checkpoint_given_only_to_finish_is_checked_at_the_head_or_refused() {
        let hasher = ChainHasher::sha256();
        let records = chain(&hasher, 5);
        let stream = |cp: &Checkpoint| {
            let mut verifier = ChainVerifier::new(hasher.clone());
            for r in &records {
                verifier.push(r).unwrap();
            }
            verifier.finish(Some(cp))
        };
        assert!(stream(&checkpoint_of(&records[4])).is_valid());
        let mut wrong = checkpoint_of(&records[4]);
        wrong.hash = records[3].hash;
        assert_fault(&stream(&wrong), 5, FaultKind::Modified);
        assert_fault(
            &stream(&checkpoint_of(&records[2])),
            3,
            FaultKind::Unverifiable,
        );
    }

    #[test]
    fn a_checkpoint_before_the_anchor_is_unverifiable() {
        let hasher = ChainHasher::sha256();
        let full = chain(&hasher, 6);
        let anchor = ChainAnchor {
            seq: 3,
            hash: full[2].hash,
        };
        let old = checkpoint_of(&full[1]);
        let report = verify(hasher.clone(), anchor, &full[3..], Some(&old));
        assert_fault(&report, 2, FaultKind::Unverifiable);
        let at_anchor = checkpoint_of(&full[2]);
        assert!(verify(hasher, anchor, &full[3..], Some(&at_anchor)).is_valid());
    }
}

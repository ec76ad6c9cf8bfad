//! Chains to verify in the chain module's tests, and the reports they must agree on.

use super::{
    ChainAnchor, ChainHash, ChainHasher, Checkpoint, Parallelism, VerifyReport, verify,
    verify_parallel,
};
use crate::event::{Actor, AuditEvent, StoredEvent, now_micros};

pub fn hashers() -> [ChainHasher; 2] {
    [ChainHasher::sha256(), ChainHasher::hmac_sha256(b"test key")]
}

pub fn event(i: u64) -> AuditEvent {
    AuditEvent::builder("TEST_EVENT")
        .actor(Actor::user(format!("user-{i}")))
        .description(format!("event number {i}"))
        .build()
}

/// A valid chain of `n` records following `anchor`.
pub fn chain_from(hasher: &ChainHasher, anchor: ChainAnchor, n: u64) -> Vec<StoredEvent> {
    let mut prev = anchor.hash;
    (anchor.seq + 1..=anchor.seq + n)
        .map(|seq| {
            let event = event(seq);
            let hash = hasher.hash(&prev, &event);
            let record = StoredEvent {
                seq,
                prev_hash: prev,
                hash,
                event,
            };
            prev = hash;
            record
        })
        .collect()
}

pub fn chain(hasher: &ChainHasher, n: u64) -> Vec<StoredEvent> {
    chain_from(hasher, ChainAnchor::GENESIS, n)
}

/// An attacker's record: linked after `prev` and hashed with plain SHA-256.
pub fn forged(seq: u64, prev: ChainHash, i: u64) -> StoredEvent {
    let event = event(i);
    StoredEvent {
        seq,
        prev_hash: prev,
        hash: ChainHasher::sha256().hash(&prev, &event),
        event,
    }
}

pub fn renumber(records: &mut [StoredEvent]) {
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64 + 1;
    }
}

pub fn checkpoint_of(record: &StoredEvent) -> Checkpoint {
    Checkpoint {
        seq: record.seq,
        hash: record.hash,
        taken_at: now_micros(),
    }
}

/// A report without the time its head was taken, which differs between two runs.
pub fn comparable(report: &VerifyReport) -> impl PartialEq + std::fmt::Debug {
    (
        report.checked,
        report.head.map(|h| (h.seq, h.hash)),
        report.fault.clone(),
    )
}

/// Chunk sizes that put chunk boundaries everywhere in the short chains of the tests.
const CHUNKS: [usize; 4] = [1, 2, 3, 64];

/// [`verify`](super::verify) sequentially and on four threads with every chunk size of
/// [`CHUNKS`]: the reports must be the same; the sequential one is returned.
#[track_caller]
pub fn verify_every_way(
    hasher: ChainHasher,
    anchor: ChainAnchor,
    records: &[StoredEvent],
    checkpoint: Option<&Checkpoint>,
) -> VerifyReport {
    let sequential = verify(hasher.clone(), anchor, records, checkpoint);
    for chunk in CHUNKS {
        let parallelism = Parallelism::threads(4).chunk_size(chunk);
        let parallel = verify_parallel(hasher.clone(), anchor, records, checkpoint, parallelism);
        assert_eq!(
            comparable(&parallel),
            comparable(&sequential),
            "4 threads, chunks of {chunk}"
        );
    }
    sequential
}

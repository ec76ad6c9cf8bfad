//! [`MemorySink`]: the reference in-memory backend, chained and queryable.
//!
//! It is what tests and examples use, and the reference the conformance suite compares real
//! backends against. Its test knobs (failures, delays, tampering) let pipeline and
//! verification tests stage slow, failing and tampered sinks without a database.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::chain::{
    self, ChainAnchor, ChainFault, ChainHasher, Checkpoint, FaultKind, VerifyReport,
};
use crate::event::{AuditEvent, StoredEvent, now_micros};
use crate::query::{AuditQuery, CountBy, GroupCount, Order, Page};
use crate::sink::{AuditSink, BatchAck, ChainPosition, SinkError};
use crate::store::{AuditStore, StoreError, VerifyScope};
use crate::tlog::{CheckpointPolicy, Frontier, SignedCheckpoint, TransparencyLog, TreeRow};

/// An in-memory, hash-chained audit log that is both an [`AuditSink`] and an [`AuditStore`].
///
/// Clones share the same log, so a test keeps one clone to inspect what the pipeline wrote
/// through another.
///
/// ```
/// use audit_core::{AuditEvent, AuditSink, AuditStore, sinks::MemorySink, store::VerifyScope};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sink = MemorySink::new();
/// let ack = sink.write(&[AuditEvent::builder("USER_LOGIN").build()]).await.unwrap();
/// assert_eq!(ack.position(0).unwrap().seq, 1);
/// assert!(sink.verify(VerifyScope::All, None).await.unwrap().is_valid());
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    hasher: ChainHasher,
    state: Mutex<State>,
    fail_next: AtomicU64,
    failing: AtomicBool,
    delay_nanos: AtomicU64,
    attempts: AtomicU64,
    flushes: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Records in storage order (seq order unless a test tampered with them).
    records: Vec<StoredEvent>,
    /// The writer's chain head, kept apart from `records` like a database's head row, so
    /// tampering with records does not silently repair the chain on the next write.
    head: Option<ChainPosition>,
    /// Sizes of the committed batches, in order.
    batches: Vec<usize>,
    /// Reused encoding buffer: no allocation per hashed event.
    scratch: Vec<u8>,
    /// The tree's stored rows, `tree[i]` for seq `i + 1` (kept when records are tampered
    /// with, like a database's tree table).
    tree: Vec<TreeRow>,
    /// The right edge of the tree, for appends.
    frontier: Frontier,
    /// Signed checkpoints, smallest first.
    checkpoints: Vec<SignedCheckpoint>,
    /// When to sign checkpoints, if at all.
    policy: Option<CheckpointPolicy>,
}

impl MemorySink {
    /// An empty log chained with SHA-256.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log chained with `hasher` (for example HMAC-SHA256).
    pub fn with_hasher(hasher: ChainHasher) -> Self {
        Self {
            shared: Arc::new(Shared {
                hasher,
                ..Shared::default()
            }),
        }
    }

    /// Signs checkpoints of the log's tree as `policy` says (the memory store has no timer:
    /// it signs by event count, on [`TransparencyLog::sign_checkpoint`] and at shutdown).
    pub fn with_checkpoints(self, policy: CheckpointPolicy) -> Self {
        self.state().policy = Some(policy);
        self
    }

    /// Test helper: replaces the stored tree with one recomputed from the records as they
    /// are now, as an attacker who rewrote the log and its tree table would (without the
    /// signing key, so stored checkpoints stay as they were).
    pub fn tamper_rebuild_tree(&self) {
        let mut state = self.state();
        let mut frontier = Frontier::new();
        let rows: Vec<TreeRow> = state
            .records
            .iter()
            .map(|r| frontier.append(crate::tlog::leaf_hash(&r.event)))
            .collect();
        state.tree = rows;
        state.frontier = frontier;
    }

    /// The hasher that links this log.
    pub fn hasher(&self) -> &ChainHasher {
        &self.shared.hasher
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic in another test thread must not hide the log from this one.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored events, in storage order, without their chain fields.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.state()
            .records
            .iter()
            .map(|r| r.event.clone())
            .collect()
    }

    /// The stored records, in storage order.
    pub fn records(&self) -> Vec<StoredEvent> {
        self.state().records.clone()
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.state().records.len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sizes of the batches committed so far, in order (to test batching).
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.state().batches.clone()
    }

    /// How many times `write` was called, failed calls included (to test retries).
    pub fn write_attempts(&self) -> u64 {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// How many times `flush` was called.
    pub fn flushes(&self) -> u64 {
        self.shared.flushes.load(Ordering::SeqCst)
    }

    /// Makes the next `n` writes fail with [`SinkError::Unavailable`], committing nothing.
    pub fn fail_next_writes(&self, n: u64) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// While `true`, every write fails with [`SinkError::Unavailable`], committing nothing.
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes each write wait `delay` (a tokio sleep, so it needs a tokio runtime with the
    /// time driver) before committing; [`Duration::ZERO`] turns it off.
    pub fn set_write_delay(&self, delay: Duration) {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.shared.delay_nanos.store(nanos, Ordering::SeqCst);
    }

    /// Whether this write attempt must fail, consuming one `fail_next_writes` credit.
    fn should_fail(&self) -> bool {
        if self.shared.failing.load(Ordering::SeqCst) {
            return true;
        }
        self.shared
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Appends `batch` to the chain and the tree and returns where each event landed, and
    /// the checkpoint signed if one fell due.
    fn append(&self, batch: &[AuditEvent]) -> (Vec<ChainPosition>, Option<SignedCheckpoint>) {
        let mut state = self.state();
        let State {
            records,
            head,
            batches,
            scratch,
            tree,
            frontier,
            checkpoints,
            policy,
        } = &mut *state;
        let mut positions = Vec::with_capacity(batch.len());
        let (mut seq, mut prev) = head.map_or((0, chain::ChainHash::ZERO), |h| (h.seq, h.hash));
        records.reserve(batch.len());
        for event in batch {
            seq += 1;
            let hash = self.shared.hasher.hash_with_scratch(&prev, event, scratch);
            tree.push(frontier.append(crate::tlog::leaf_hash_with_scratch(event, scratch)));
            records.push(StoredEvent {
                seq,
                prev_hash: prev,
                hash,
                event: event.clone(),
            });
            positions.push(ChainPosition { seq, hash });
            prev = hash;
        }
        if !batch.is_empty() {
            *head = Some(ChainPosition { seq, hash: prev });
            batches.push(batch.len());
        }
        let last = checkpoints.last().map_or(0, |c| c.head().size);
        let signed = match policy {
            Some(policy) if policy.due(last, frontier.size()) => {
                sign_into(policy, frontier, checkpoints)
            }
            _ => None,
        };
        (positions, signed)
    }

    // ----- tampering, for tests of verification -----

    /// Test helper: edits the stored record with this seq in place (its hash is kept, so
    /// verification reports it as modified). Returns whether the record existed.
    pub fn tamper_modify(&self, seq: u64, edit: impl FnOnce(&mut StoredEvent)) -> bool {
        let mut state = self.state();
        match state.records.iter_mut().find(|r| r.seq == seq) {
            Some(record) => {
                edit(record);
                true
            }
            None => false,
        }
    }

    /// Test helper: removes the record with this seq, leaving a gap. Returns whether it
    /// existed.
    pub fn tamper_delete(&self, seq: u64) -> bool {
        let mut state = self.state();
        let before = state.records.len();
        state.records.retain(|r| r.seq != seq);
        state.records.len() != before
    }

    /// Test helper: removes every record after `seq` (a truncated tail).
    pub fn tamper_truncate_after(&self, seq: u64) {
        self.state().records.retain(|r| r.seq <= seq);
    }

    /// Test helper: forges `event` into the chain right after `after_seq`, the way an
    /// attacker without the HMAC key would: linked to the previous record and hashed with
    /// plain SHA-256; every later record is renumbered up by one. Returns the forged seq,
    /// or `None` when `after_seq` is neither 0 nor an existing record.
    pub fn tamper_insert(&self, after_seq: u64, event: AuditEvent) -> Option<u64> {
        let mut state = self.state();
        let prev = if after_seq == 0 {
            chain::ChainHash::ZERO
        } else {
            state.records.iter().find(|r| r.seq == after_seq)?.hash
        };
        let index = state.records.partition_point(|r| r.seq <= after_seq);
        for record in &mut state.records[index..] {
            record.seq += 1;
        }
        let hash = ChainHasher::sha256().hash(&prev, &event);
        state.records.insert(
            index,
            StoredEvent {
                seq: after_seq + 1,
                prev_hash: prev,
                hash,
                event,
            },
        );
        Some(after_seq + 1)
    }

    /// Test helper: exchanges the contents (event and hashes) of the records at seqs `a`
    /// and `b`, each keeping its seq, as swapping two rows of a table would. Returns
    /// whether both existed.
    pub fn tamper_swap(&self, a: u64, b: u64) -> bool {
        let mut state = self.state();
        let ia = state.records.iter().position(|r| r.seq == a);
        let ib = state.records.iter().position(|r| r.seq == b);
        let (Some(ia), Some(ib)) = (ia, ib) else {
            return false;
        };
        state.records.swap(ia, ib);
        state.records[ia].seq = a;
        state.records[ib].seq = b;
        true
    }
}

#[async_trait]
impl AuditSink for MemorySink {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        self.shared.attempts.fetch_add(1, Ordering::SeqCst);
        let delay = self.shared.delay_nanos.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_nanos(delay)).await;
        }
        if self.should_fail() {
            return Err(SinkError::Unavailable {
                message: "memory sink is set to fail (test knob)".into(),
                source: None,
            });
        }
        let (positions, signed) = self.append(batch);
        self.publish(signed);
        Ok(BatchAck::chained(positions))
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.shared.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        let signed = self.sign_now();
        self.publish(signed);
        Ok(())
    }
}

/// Signs the frontier's head into `checkpoints` unless the newest already has its size.
fn sign_into(
    policy: &CheckpointPolicy,
    frontier: &Frontier,
    checkpoints: &mut Vec<SignedCheckpoint>,
) -> Option<SignedCheckpoint> {
    let size = frontier.size();
    if size == 0 || checkpoints.last().map(|c| c.head().size) == Some(size) {
        return None;
    }
    match policy.signer().sign(frontier.head()) {
        Ok(checkpoint) => {
            checkpoints.push(checkpoint.clone());
            Some(checkpoint)
        }
        Err(err) => {
            tracing::error!(%err, "memory sink could not sign a checkpoint");
            None
        }
    }
}

impl MemorySink {
    fn sign_now(&self) -> Option<SignedCheckpoint> {
        let mut state = self.state();
        let State {
            frontier,
            checkpoints,
            policy,
            ..
        } = &mut *state;
        sign_into(policy.as_ref()?, frontier, checkpoints)
    }

    fn publish(&self, signed: Option<SignedCheckpoint>) {
        let Some(checkpoint) = signed else { return };
        let policy = self.state().policy.clone();
        if let Some(policy) = policy {
            policy.publish(&checkpoint);
        }
    }
}

#[async_trait]
impl TransparencyLog for MemorySink {
    async fn tree_size(&self) -> Result<u64, StoreError> {
        Ok(self.state().tree.len() as u64)
    }

    async fn tree_rows(&self, seqs: &[u64]) -> Result<Vec<TreeRow>, StoreError> {
        let state = self.state();
        Ok(seqs
            .iter()
            .filter_map(|&seq| {
                let index = usize::try_from(seq.checked_sub(1)?).ok()?;
                state.tree.get(index).cloned()
            })
            .collect())
    }

    async fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>, StoreError> {
        Ok(self
            .state()
            .records
            .iter()
            .find(|r| r.event.id == id)
            .map(|r| r.seq))
    }

    async fn sign_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        let signed = self.sign_now();
        self.publish(signed);
        self.latest_checkpoint().await
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        Ok(self
            .state()
            .checkpoints
            .iter()
            .filter(|c| c.head().size >= from_size)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self.state().checkpoints.last().cloned())
    }
}

/// `query` without its cursor: what `count` and `count_by` filter on.
fn without_cursor(query: &AuditQuery) -> AuditQuery {
    let mut query = query.clone();
    query.cursor = None;
    query
}

#[async_trait]
impl AuditStore for MemorySink {
    async fn query(&self, query: &AuditQuery) -> Result<Page, StoreError> {
        let state = self.state();
        let wanted = query.page_size() as usize + 1;
        let matching = |r: &&StoredEvent| query.matches(r);
        let fetched: Vec<StoredEvent> = match query.order {
            Order::OldestFirst => state
                .records
                .iter()
                .filter(matching)
                .take(wanted)
                .cloned()
                .collect(),
            Order::NewestFirst => state
                .records
                .iter()
                .rev()
                .filter(matching)
                .take(wanted)
                .cloned()
                .collect(),
        };
        Ok(Page::from_fetched(fetched, query.page_size()))
    }

    async fn count(&self, query: &AuditQuery) -> Result<u64, StoreError> {
        let query = without_cursor(query);
        let state = self.state();
        Ok(state.records.iter().filter(|r| query.matches(r)).count() as u64)
    }

    async fn count_by(
        &self,
        query: &AuditQuery,
        by: CountBy,
    ) -> Result<Vec<GroupCount>, StoreError> {
        let query = without_cursor(query);
        let state = self.state();
        let mut groups = BTreeMap::<String, u64>::new();
        for record in state.records.iter().filter(|r| query.matches(r)) {
            *groups.entry(by.key(record)).or_default() += 1;
        }
        Ok(groups
            .into_iter()
            .map(|(key, count)| GroupCount { key, count })
            .collect())
    }

    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.state().records.iter().find(|r| r.seq == seq).cloned())
    }

    async fn verify(
        &self,
        scope: VerifyScope,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport, StoreError> {
        let state = self.state();
        let hasher = self.shared.hasher.clone();
        let (anchor, last) = match scope {
            VerifyScope::All => (ChainAnchor::GENESIS, u64::MAX),
            VerifyScope::After(anchor) => (anchor, u64::MAX),
            VerifyScope::Range { from, to } => {
                if from == 0 || from > to {
                    return Err(StoreError::InvalidRequest(format!(
                        "verify range {from}..={to}: need 1 <= from <= to"
                    )));
                }
                if from == 1 {
                    (ChainAnchor::GENESIS, to)
                } else {
                    // A range is anchored at its predecessor's stored hash.
                    match state.records.iter().find(|r| r.seq == from - 1) {
                        Some(r) => (
                            ChainAnchor {
                                seq: r.seq,
                                hash: r.hash,
                            },
                            to,
                        ),
                        None => {
                            return Ok(VerifyReport {
                                checked: 0,
                                head: None,
                                fault: Some(ChainFault {
                                    seq: from - 1,
                                    kind: FaultKind::Missing,
                                    detail: format!(
                                        "record {} that anchors the range is missing",
                                        from - 1
                                    ),
                                }),
                            });
                        }
                    }
                }
            }
        };
        let records = state
            .records
            .iter()
            .filter(|r| r.seq > anchor.seq && r.seq <= last);
        Ok(chain::verify(hasher, anchor, records, checkpoint))
    }

    async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.state().records.last().map(|r| Checkpoint {
            seq: r.seq,
            hash: r.hash,
            taken_at: now_micros(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Actor;

    fn event(i: u32) -> AuditEvent {
        AuditEvent::builder("TEST_EVENT")
            .actor(Actor::user(format!("u{}", i % 3)))
            .description(format!("event {i}"))
            .build()
    }

    fn events(n: u32) -> Vec<AuditEvent> {
        (0..n).map(event).collect()
    }

    #[tokio::test]
    async fn write_assigns_gap_free_seq_and_links_hashes() {
        let sink = MemorySink::new();
        let first = sink.write(&events(3)).await.unwrap();
        let second = sink.write(&events(2)).await.unwrap();
        assert_eq!(first.position(0).unwrap().seq, 1);
        assert_eq!(second.position(1).unwrap().seq, 5);
        let records = sink.records();
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(records[0].prev_hash, chain::ChainHash::ZERO);
        for pair in records.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        assert_eq!(second.position(1).unwrap().hash, records[4].hash);
        assert_eq!(sink.batch_sizes(), [3, 2]);
    }

    #[tokio::test]
    async fn clones_share_the_log() {
        let sink = MemorySink::new();
        let other = sink.clone();
        other.write(&events(2)).await.unwrap();
        assert_eq!(sink.len(), 2);
        assert_eq!(sink.events()[1].description.as_deref(), Some("event 1"));
    }

    #[tokio::test]
    async fn fail_next_writes_fails_exactly_n_times_and_commits_nothing() {
        let sink = MemorySink::new();
        sink.fail_next_writes(2);
        for _ in 0..2 {
            let err = sink.write(&events(1)).await.unwrap_err();
            assert!(err.is_retryable());
        }
        assert!(sink.is_empty());
        sink.write(&events(1)).await.unwrap();
        assert_eq!(sink.len(), 1);
        assert_eq!(sink.write_attempts(), 3);
    }

    #[tokio::test]
    async fn set_failing_fails_until_cleared() {
        let sink = MemorySink::new();
        sink.set_failing(true);
        assert!(sink.write(&events(1)).await.is_err());
        assert!(sink.write(&events(1)).await.is_err());
        sink.set_failing(false);
        assert!(sink.write(&events(1)).await.is_ok());
        assert_eq!(sink.len(), 1);
    }

    #[tokio::test]
    async fn write_delay_holds_the_write_back() {
        let sink = MemorySink::new();
        sink.set_write_delay(Duration::from_secs(3600));
        let slow = tokio::time::timeout(Duration::from_millis(20), sink.write(&events(1))).await;
        assert!(slow.is_err(), "a write delayed by an hour finished early");
        assert!(sink.is_empty());
        sink.set_write_delay(Duration::ZERO);
        sink.write(&events(1)).await.unwrap();
        assert_eq!(sink.len(), 1);
    }

    #[tokio::test]
    async fn hmac_sink_chains_with_its_key() {
        let sink = MemorySink::with_hasher(ChainHasher::hmac_sha256(b"k"));
        sink.write(&events(2)).await.unwrap();
        let records = sink.records();
        let expected = ChainHasher::hmac_sha256(b"k").hash(&records[0].hash, &records[1].event);
        assert_eq!(records[1].hash, expected);
    }

    #[tokio::test]
    async fn query_pages_newest_first_and_counts_ignore_cursor() {
        let sink = MemorySink::new();
        sink.write(&events(7)).await.unwrap();
        let q = AuditQuery::new().actor("u1").limit(1);
        let page = sink.query(&q).await.unwrap();
        assert_eq!(page.events.iter().map(|r| r.seq).collect::<Vec<_>>(), [5]);
        let next = page.next.expect("a second page");
        let rest = sink.query(&q.clone().after(next)).await.unwrap();
        assert_eq!(rest.events.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
        assert!(rest.next.is_none());
        assert_eq!(sink.count(&q.clone().after(next)).await.unwrap(), 2);
        let by_actor = sink
            .count_by(&AuditQuery::new(), CountBy::Actor)
            .await
            .unwrap();
        let keys: Vec<_> = by_actor.iter().map(|g| (g.key.as_str(), g.count)).collect();
        assert_eq!(keys, [("u0", 3), ("u1", 2), ("u2", 2)]);
    }

    #[tokio::test]
    async fn tampering_helpers_change_storage_as_described() {
        let sink = MemorySink::new();
        sink.write(&events(5)).await.unwrap();
        assert!(sink.tamper_swap(2, 4));
        assert_eq!(
            sink.get(2)
                .await
                .unwrap()
                .unwrap()
                .event
                .description
                .as_deref(),
            Some("event 3")
        );
        assert!(sink.tamper_delete(5));
        assert_eq!(sink.tamper_insert(1, event(9)), Some(2));
        let seqs: Vec<_> = sink.records().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        sink.tamper_truncate_after(3);
        assert_eq!(sink.head().await.unwrap().unwrap().seq, 3);
        assert!(!sink.tamper_delete(42));
    }
}

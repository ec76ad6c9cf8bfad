//! The Merkle tree and signed checkpoints, checked once for both SQL backends: checkpoints
//! every N events and at shutdown, proofs against a signed checkpoint, proofs beyond the
//! tree refused, one tree across several writers, the same root as the memory store for the
//! same events.

use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, Keyring, TransparencyLog, leaf_hash, verify_log,
};
use audit_core::{AuditSink, AuditStore, StoreError};

use super::{all_records, events};

/// The origin line of the test logs.
pub const ORIGIN: &str = "audit.example/sql-test";

/// The test logs' signer.
pub fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(ORIGIN, &[24; 32]).expect("a valid origin")
}

/// What an auditor holds: the verifying key.
pub fn keys() -> Keyring {
    Keyring::new(signer().verifying_key()).expect("one key")
}

/// A policy signing every `every` events, without a timer.
pub fn policy(every: u64) -> CheckpointPolicy {
    CheckpointPolicy::new(signer())
        .every_events(every)
        .without_timer()
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_checkpoints_every_n_events_and_at_shutdown<S>(store: S)
where
    S: AuditSink + TransparencyLog,
{
    for chunk in events(0..25).chunks(4) {
        store.write(chunk).await.expect("append");
    }
    let sizes: Vec<u64> = store
        .checkpoints(0, 100)
        .await
        .expect("checkpoints")
        .iter()
        .map(|c| c.head().size)
        .collect();
    assert_eq!(sizes, [12, 24]);
    AuditSink::shutdown(&store).await.expect("shutdown");
    let latest = store.latest_checkpoint().await.expect("read").expect("one");
    assert_eq!(
        latest.verify(&keys()).expect("signed by the key"),
        store.tree_head().await.expect("head")
    );
    assert_eq!(latest.head().size, 25);
}

/// `store` signs with [`policy`]`(1000)`.
pub async fn check_proofs_verify_against_a_signed_checkpoint<S>(store: S)
where
    S: AuditSink + AuditStore + TransparencyLog,
{
    for chunk in events(0..37).chunks(10) {
        store.write(chunk).await.expect("append");
    }
    let signed = |c: Option<audit_core::tlog::SignedCheckpoint>| {
        c.expect("a checkpoint").verify(&keys()).expect("signed")
    };
    let old = signed(store.sign_checkpoint().await.expect("sign"));
    store.write(&events(37..50)).await.expect("append");
    let head = signed(store.sign_checkpoint().await.expect("sign"));
    assert_eq!(head.size, 50);
    for seq in [1, 2, 31, 37, 50] {
        let record = store.get(seq).await.expect("read").expect("stored");
        let proof = store.prove_inclusion(seq, head.size).await.expect("prove");
        proof
            .verify(&leaf_hash(&record.event), &head)
            .expect("included");
        assert_eq!(
            store
                .prove_inclusion_of(record.event.id, 50)
                .await
                .expect("prove by id"),
            proof
        );
    }
    store
        .prove_consistency(37, 50)
        .await
        .expect("prove")
        .verify(&old, &head)
        .expect("consistent");
    let newest = store.latest_checkpoint().await.expect("read").expect("one");
    let report = verify_log(&store, &newest, &keys()).await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
}

/// `store` is empty: proofs for a tree the log has not reached are refused, naming its size
/// (the size check rides in the proof's one query).
pub async fn check_proofs_beyond_the_tree_are_refused<S>(store: S)
where
    S: AuditSink + TransparencyLog,
{
    store.write(&events(0..10)).await.expect("append");
    let refusals = [
        store.prove_inclusion(3, 11).await.map(drop),
        store.prove_inclusion(11, 11).await.map(drop),
        store.prove_consistency(5, 11).await.map(drop),
    ];
    for refused in refusals {
        match refused {
            Err(StoreError::InvalidRequest(why)) => {
                assert_eq!(why, "the tree has 10 leaves, not 11")
            }
            other => panic!("a proof beyond the tree was not refused: {other:?}"),
        }
    }
    store.prove_inclusion(10, 10).await.expect("prove");
    store.prove_consistency(5, 10).await.expect("prove");
}

/// Three stores on one log, each signing with [`policy`]`(50)`.
pub async fn check_writers_extend_one_tree<S>(writers: [S; 3])
where
    S: AuditSink + AuditStore + TransparencyLog + Clone,
{
    let a = writers[0].clone();
    let mut tasks = Vec::new();
    for (w, store) in writers.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for round in 0..20 {
                let from = w * 1000 + round * 5;
                store.write(&events(from..from + 5)).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    assert_eq!(a.tree_size().await.expect("size"), 300);
    let checkpoints = a.checkpoints(0, 100).await.expect("checkpoints");
    assert!(checkpoints.len() >= 5, "{} checkpoints", checkpoints.len());
    let newest = a.sign_checkpoint().await.expect("sign").expect("one");
    let report = verify_log(&a, &newest, &keys()).await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    let head = newest.verify(&keys()).expect("signed");
    for checkpoint in &checkpoints {
        let old = checkpoint.verify(&keys()).expect("signed");
        a.prove_consistency(old.size, head.size)
            .await
            .expect("prove")
            .verify(&old, &head)
            .expect("consistent");
    }
}

/// The tree of `store` has the root the memory store computes for the same events.
pub async fn assert_same_root_as_memory(store: &(impl AuditStore + TransparencyLog)) {
    let reference = audit_core::sinks::MemorySink::new();
    for record in all_records(store).await {
        reference.write(&[record.event]).await.expect("memory");
    }
    assert_eq!(
        store.tree_head().await.expect("head"),
        reference.tree_head().await.expect("head")
    );
}

// ----- Tampering behind the store's back, judged through signed checkpoints -----

use audit_core::tlog::{SignedCheckpoint, TreeFaultKind, check_fork};

/// What the tamper matrix needs of a backend: SQL run as the tables' owner, around the
/// append-only triggers (as an owner can), and more logs on the same server.
#[async_trait::async_trait]
pub trait Owner: AuditSink + AuditStore + TransparencyLog + Sized {
    /// The qualified name of the store's table `suffix` (`events`, `tree`, `checkpoints`).
    fn table(&self, suffix: &str) -> String;
    /// The store's other tables that hold the log's state (the chain head, the tree's edge).
    fn head_tables(&self) -> &'static [&'static str];
    /// An SQL literal of the events table's id column.
    fn id_literal(&self, id: uuid::Uuid) -> String;
    /// Runs `sql` (several statements) as the owner, with the store's append-only triggers
    /// out of the way and back afterwards.
    async fn as_owner(&self, sql: &str);
    /// A new, empty log on the same server, signing with `policy`.
    async fn another(&self, tag: &str, policy: CheckpointPolicy) -> Self;
}

/// A policy signing every 10 events with a key that is not the log's (a forger's own).
fn forger_policy() -> CheckpointPolicy {
    let forger = CheckpointSigner::from_seed(ORIGIN, &[66; 32]).expect("a valid origin");
    CheckpointPolicy::new(forger)
        .every_events(10)
        .without_timer()
}

/// Forty varied events, a second apart, an hour ago (archival cuts between them).
fn forty_events() -> Vec<audit_core::AuditEvent> {
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut all = events(0..40);
    for (i, event) in all.iter_mut().enumerate() {
        event.occurred_at = start + chrono::Duration::seconds(i as i64);
    }
    all
}

/// Writes `events` ten at a time (so a [`policy`]`(10)` store signs after each ten).
async fn write_by_ten(store: &impl AuditSink, events: &[audit_core::AuditEvent]) {
    for chunk in events.chunks(10) {
        store.write(chunk).await.expect("append");
    }
}

/// `store` signs with [`policy`]`(10)`: forty events give checkpoints at 10, 20, 30 and 40;
/// returns the auditor's copy of the newest.
async fn forty(store: &impl Owner) -> SignedCheckpoint {
    write_by_ten(store, &forty_events()).await;
    let held = store.latest_checkpoint().await.expect("read").expect("one");
    assert_eq!(held.head().size, 40);
    held
}

/// The first fault `verify_log` finds in `store` against `held`.
async fn fault_of(store: &impl Owner, held: &SignedCheckpoint) -> (u64, TreeFaultKind) {
    let report = verify_log(store, held, &keys()).await.expect("verify");
    let fault = report.fault.expect("a fault");
    (fault.seq, fault.kind)
}

/// The hash chain alone still verifies (what the tree and the checkpoint add is the point).
async fn chain_verifies(store: &impl Owner) {
    let report = store
        .verify(Default::default(), None)
        .await
        .expect("verify");
    assert!(report.is_valid(), "{report:?}");
}

/// SQL replacing `to`'s copy of `tables` with `from`'s.
fn copy_tables(from: &impl Owner, to: &impl Owner, tables: &[&str]) -> String {
    tables
        .iter()
        .map(|t| {
            let (from, to) = (from.table(t), to.table(t));
            format!("DELETE FROM {to}; INSERT INTO {to} SELECT * FROM {from};")
        })
        .collect()
}

/// The whole log of `from` (events, tree, head, checkpoints) put in place of `to`'s, as a
/// backup is taken or restored by the owner.
async fn copy_log<S: Owner>(from: &S, to: &S) {
    let mut tables = vec!["events", "tree", "checkpoints"];
    tables.extend(from.head_tables());
    to.as_owner(&copy_tables(from, to, &tables)).await;
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_an_untampered_log_verifies_against_its_signed_checkpoint(store: impl Owner) {
    let held = forty(&store).await;
    let report = verify_log(&store, &held, &keys()).await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 40);
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_modified_event_is_named_at_its_seq(store: impl Owner) {
    let held = forty(&store).await;
    let events = store.table("events");
    store
        .as_owner(&format!(
            "UPDATE {events} SET actor_id = 'mallory' WHERE seq = 23"
        ))
        .await;
    assert_eq!(fault_of(&store, &held).await, (23, TreeFaultKind::Modified));
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_deleted_event_is_missing_at_its_seq(store: impl Owner) {
    let held = forty(&store).await;
    let events = store.table("events");
    store
        .as_owner(&format!("DELETE FROM {events} WHERE seq = 17"))
        .await;
    assert_eq!(fault_of(&store, &held).await, (17, TreeFaultKind::Missing));
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_an_inserted_event_is_named_where_it_was_put(store: impl Owner) {
    let held = forty(&store).await;
    let events = store.table("events");
    // Renumber 25..=40 up by one and forge a row at 25 (a copy of 3 with a new id).
    let id = store.id_literal(uuid::Uuid::now_v7());
    store
        .as_owner(&format!(
            "CREATE TEMPORARY TABLE forged AS SELECT * FROM {events} WHERE seq = 3;
             UPDATE forged SET seq = 25, id = {id};
             UPDATE {events} SET seq = seq + 1000 WHERE seq >= 25;
             UPDATE {events} SET seq = seq - 999 WHERE seq >= 1025;
             INSERT INTO {events} SELECT * FROM forged;"
        ))
        .await;
    assert_eq!(fault_of(&store, &held).await, (25, TreeFaultKind::Modified));
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_reordered_events_are_named_at_the_first_moved_seq(store: impl Owner) {
    let held = forty(&store).await;
    let events = store.table("events");
    store
        .as_owner(&format!(
            "UPDATE {events} SET seq = 1012 WHERE seq = 12;
             UPDATE {events} SET seq = 12 WHERE seq = 13;
             UPDATE {events} SET seq = 13 WHERE seq = 1012;"
        ))
        .await;
    assert_eq!(fault_of(&store, &held).await, (12, TreeFaultKind::Modified));
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_truncated_tail_is_named_at_the_first_missing_seq(store: impl Owner) {
    let held = forty(&store).await;
    let (events, tree) = (store.table("events"), store.table("tree"));
    let head = store.table("chain_head");
    // The tail gone from the events and the tree, and the chain head moved back to match:
    // the hash chain verifies.
    store
        .as_owner(&format!(
            "DELETE FROM {events} WHERE seq >= 36; DELETE FROM {tree} WHERE seq >= 36;
             UPDATE {head} SET seq = 35, hash = (SELECT hash FROM {events} WHERE seq = 35);"
        ))
        .await;
    chain_verifies(&store).await;
    assert_eq!(
        fault_of(&store, &held).await,
        (36, TreeFaultKind::Truncated)
    );
}

/// The owner replaces `store`'s log with one holding its first `genuine` events and then
/// other ones: chain and tree recomputed (by the library itself, in another log), signed
/// with the forger's own key, the genuine checkpoints of the prefix kept.
async fn rewrite<S: Owner>(store: &S, genuine: u64) {
    let copy = store.another("forger", forger_policy()).await;
    let mut log = Vec::new();
    for seq in 1..=genuine {
        log.push(store.get(seq).await.expect("read").expect("stored").event);
    }
    log.extend(events(1000..1040 - genuine as usize));
    write_by_ten(&copy, &log).await;
    let mut tables = vec!["events", "tree"];
    tables.extend(store.head_tables());
    let (mine, theirs) = (store.table("checkpoints"), copy.table("checkpoints"));
    store
        .as_owner(&format!(
            "{} DELETE FROM {mine} WHERE tree_size > {genuine};
             INSERT INTO {mine} SELECT * FROM {theirs} WHERE tree_size > {genuine};",
            copy_tables(&copy, store, &tables)
        ))
        .await;
    chain_verifies(store).await;
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_whole_rewrite_without_the_signing_key_is_named_from_seq_1(store: impl Owner) {
    let held = forty(&store).await;
    rewrite(&store, 0).await;
    assert_eq!(fault_of(&store, &held).await, (1, TreeFaultKind::Rewritten));
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_rewrite_after_a_signed_prefix_is_named_after_it(store: impl Owner) {
    let held = forty(&store).await;
    rewrite(&store, 20).await;
    assert_eq!(
        fault_of(&store, &held).await,
        (21, TreeFaultKind::Rewritten)
    );
}

/// `store` (signing with [`policy`]`(10)`) after its owner restored a backup taken at 20
/// events, once it had grown to 40; returns the auditor's checkpoint of 40.
async fn rolled_back_to_twenty<S: Owner>(store: &S) -> SignedCheckpoint {
    let all = forty_events();
    write_by_ten(store, &all[..20]).await;
    let backup = store.another("backup", policy(10)).await;
    copy_log(store, &backup).await;
    write_by_ten(store, &all[20..]).await;
    let held = store.latest_checkpoint().await.expect("read").expect("one");
    assert_eq!(held.head().size, 40);
    copy_log(&backup, store).await;
    chain_verifies(store).await;
    held
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_rollback_to_an_older_state_is_truncated_after_it(store: impl Owner) {
    let held = rolled_back_to_twenty(&store).await;
    assert_eq!(
        fault_of(&store, &held).await,
        (21, TreeFaultKind::Truncated)
    );
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_rollback_that_grew_again_under_the_real_key_is_a_fork(store: impl Owner) {
    let held = rolled_back_to_twenty(&store).await;
    // The service kept running on the restored log, signing with its real key: 20 other
    // events, checkpoints at 30 and 40. Two logs signed at size 40.
    write_by_ten(&store, &events(500..520)).await;
    let theirs = store.latest_checkpoint().await.expect("read").expect("one");
    let (ours, theirs) = (
        held.verify(&keys()).expect("signed"),
        theirs.verify(&keys()).expect("signed"),
    );
    assert_eq!(theirs.size, 40);
    let fork = check_fork(&ours, &theirs).expect("same size, different roots");
    assert_eq!((fork.seq, fork.kind), (40, TreeFaultKind::Forked));
    assert_eq!(fault_of(&store, &held).await, (40, TreeFaultKind::Forked));
    // No consistency proof from this log links its tree to the held one.
    let proof = store.prove_consistency(30, 40).await.expect("prove");
    let their30 = store.tree_head_at(30).await.expect("head");
    assert!(proof.verify(&their30, &ours).is_err());
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_rewritten_tree_row_is_reported_even_when_events_are_intact(store: impl Owner) {
    let held = forty(&store).await;
    // Row 8 replaced by row 8 of another log (same shape, other hashes).
    let other = store.another("other_tree", policy(10)).await;
    write_by_ten(&other, &events(100..110)).await;
    let (mine, theirs) = (store.table("tree"), other.table("tree"));
    store
        .as_owner(&format!(
            "UPDATE {mine} SET hashes = (SELECT hashes FROM {theirs} WHERE seq = 8) WHERE seq = 8"
        ))
        .await;
    assert_eq!(
        fault_of(&store, &held).await,
        (8, TreeFaultKind::TreeTampered)
    );
}

/// `store` signs with [`policy`]`(10)`.
pub async fn check_a_checkpoint_signed_by_another_key_is_refused(store: impl Owner) {
    forty(&store).await;
    let stranger = CheckpointSigner::from_seed(ORIGIN, &[1; 32]).expect("a valid origin");
    let forged = stranger
        .sign(store.tree_head().await.expect("head"))
        .expect("sign");
    assert_eq!(
        fault_of(&store, &forged).await.1,
        TreeFaultKind::BadCheckpoint
    );
}

/// `store` signs with [`policy`]`(10)`: an archive of seqs 1..=15 verifies against the
/// checkpoint of 40 that covered it, the live part too, and the tree grows on from there.
pub async fn check_an_archive_verifies_against_the_checkpoints_that_covered_it(
    store: impl Owner + super::Archiver,
) {
    let held = forty(&store).await;
    let cut = store
        .get(16)
        .await
        .expect("read")
        .expect("stored")
        .event
        .occurred_at;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let archive = super::Archiver::archive(&store, cut, dir.path().join("a.jsonl"))
        .await
        .expect("archive");
    assert_eq!((archive.from_seq, archive.to_seq), (1, 15));
    let head = held.verify(&keys()).expect("signed");
    let text = std::fs::read_to_string(&archive.path).expect("the archive");
    let mut proven = 0;
    for line in text.lines().skip(1) {
        let record: audit_core::StoredEvent = serde_json::from_str(line).expect("a record");
        let proof = store
            .prove_inclusion(record.seq, head.size)
            .await
            .expect("prove");
        proof
            .verify(&leaf_hash(&record.event), &head)
            .expect("included");
        proven += 1;
    }
    assert_eq!(proven, 15);
    // The live part verifies against the old checkpoint (the archived prefix enters through
    // the kept tree rows), and against the newer one after growth.
    let report = verify_log(&store, &held, &keys()).await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    store.write(&events(40..45)).await.expect("append");
    let newer = store.sign_checkpoint().await.expect("sign").expect("one");
    assert_eq!(newer.head().size, 46); // 40 + AUDIT_ARCHIVED + 5
    let report = verify_log(&store, &newer, &keys()).await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    store
        .prove_consistency(40, 46)
        .await
        .expect("prove")
        .verify(&head, &newer.head())
        .expect("consistent");
}

/// `store` signs with [`policy`]`(10)`. Its owner empties the tree and checkpoint tables
/// (around the triggers and the truncate guards) and fills them from another log signed by
/// another key: the events are intact, the tree is not theirs.
pub async fn check_tree_tables_rewritten_by_their_owner_are_reported(store: impl Owner) {
    let held = forty(&store).await;
    let other = store.another("other_tree", forger_policy()).await;
    write_by_ten(&other, &events(100..140)).await;
    let mut sql = String::new();
    for t in ["tree", "checkpoints"] {
        let (mine, theirs) = (store.table(t), other.table(t));
        sql.push_str(&format!(
            "TRUNCATE TABLE {mine}; INSERT INTO {mine} SELECT * FROM {theirs};"
        ));
    }
    store.as_owner(&sql).await;
    assert_eq!(store.tree_size().await.expect("size"), 40);
    chain_verifies(&store).await;
    assert_eq!(
        fault_of(&store, &held).await,
        (1, TreeFaultKind::TreeTampered)
    );
}

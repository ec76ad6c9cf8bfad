//! The Merkle tree and signed checkpoints, checked once for both SQL backends: checkpoints
//! every N events and at shutdown, proofs against a signed checkpoint, one tree across
//! several writers, the same root as the memory store for the same events.

use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, Keyring, TransparencyLog, leaf_hash, verify_log,
};
use audit_core::{AuditSink, AuditStore};

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

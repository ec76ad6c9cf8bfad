//! The Merkle tree in PostgreSQL: one tree across writers, proofs, signed checkpoints, the
//! schema-1 upgrade, and tampering behind the store's back judged through checkpoints.

use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, Keyring, SignedCheckpoint, TransparencyLog, TreeFaultKind,
    leaf_hash, verify_log,
};
use audit_core::{AuditSink, AuditStore};
use audit_sqlx::{PgOptions, PgStore};
use sqlx_core::executor::Executor;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::sql_str::AssertSqlSafe;

use crate::common::*;

const ORIGIN: &str = "audit.example/pg-test";

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(ORIGIN, &[24; 32]).unwrap()
}

fn keys() -> Keyring {
    Keyring::new(signer().verifying_key()).unwrap()
}

fn signed(options: PgOptions, every: u64) -> PgOptions {
    options.checkpoints(
        CheckpointPolicy::new(signer())
            .every_events(every)
            .without_timer(),
    )
}

async fn exec(store: &PgStore, sql: String) {
    store
        .pool()
        .execute(raw_sql(AssertSqlSafe(sql)))
        .await
        .unwrap();
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_events_and_at_shutdown() {
    let url = require_pg!();
    let store = PgStore::connect_with(signed(options(&url, "cp_every"), 10))
        .await
        .unwrap();
    for chunk in events(0..25).chunks(4) {
        store.append(chunk).await.unwrap();
    }
    let sizes: Vec<u64> = store
        .checkpoints(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.head().size)
        .collect();
    assert_eq!(sizes, [12, 24]);
    AuditSink::shutdown(&store).await.unwrap();
    let latest = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(
        latest.verify(&keys()).unwrap(),
        store.tree_head().await.unwrap()
    );
    assert_eq!(latest.head().size, 25);
}

#[tokio::test]
async fn proofs_from_postgres_verify_against_its_signed_checkpoint() {
    let url = require_pg!();
    let store = PgStore::connect_with(signed(options(&url, "proofs"), 1000))
        .await
        .unwrap();
    for chunk in events(0..37).chunks(10) {
        store.append(chunk).await.unwrap();
    }
    let old = store
        .sign_checkpoint()
        .await
        .unwrap()
        .unwrap()
        .verify(&keys())
        .unwrap();
    store.append(&events(37..50)).await.unwrap();
    let head = store
        .sign_checkpoint()
        .await
        .unwrap()
        .unwrap()
        .verify(&keys())
        .unwrap();
    assert_eq!(head.size, 50);
    for seq in [1, 2, 31, 37, 50] {
        let record = store.get(seq).await.unwrap().unwrap();
        let proof = store.prove_inclusion(seq, head.size).await.unwrap();
        proof.verify(&leaf_hash(&record.event), &head).unwrap();
        assert_eq!(
            store.prove_inclusion_of(record.event.id, 50).await.unwrap(),
            proof
        );
    }
    store
        .prove_consistency(37, 50)
        .await
        .unwrap()
        .verify(&old, &head)
        .unwrap();
    let report = verify_log(
        &store,
        &store.latest_checkpoint().await.unwrap().unwrap(),
        &keys(),
    )
    .await
    .unwrap();
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test]
async fn writers_on_several_connections_extend_one_tree() {
    let url = require_pg!();
    let options = signed(options(&url, "writers"), 50);
    let a = PgStore::connect_with(options.clone()).await.unwrap();
    let b = PgStore::connect_with(options.clone()).await.unwrap();
    let c = PgStore::connect_with(options).await.unwrap();
    let mut tasks = Vec::new();
    for (w, store) in [a.clone(), b, c].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for round in 0..20 {
                let from = w * 1000 + round * 5;
                store.append(&events(from..from + 5)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(a.tree_size().await.unwrap(), 300);
    let checkpoints = a.checkpoints(0, 100).await.unwrap();
    assert!(checkpoints.len() >= 5, "{} checkpoints", checkpoints.len());
    let newest = a.sign_checkpoint().await.unwrap().unwrap();
    let report = verify_log(&a, &newest, &keys()).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    let head = newest.verify(&keys()).unwrap();
    for checkpoint in &checkpoints {
        let old = checkpoint.verify(&keys()).unwrap();
        a.prove_consistency(old.size, head.size)
            .await
            .unwrap()
            .verify(&old, &head)
            .unwrap();
    }
}

#[tokio::test]
async fn a_schema_1_log_gets_its_tree_when_migrated() {
    let url = require_pg!();
    // A schema as version 1 left it (the migration file and its bookkeeping row), holding
    // events a version-1 store wrote: copied from another schema, with its head.
    let source = fresh_store(&url, "v1_source").await;
    source.append(&events(0..23)).await.unwrap();
    let old = unique_schema("v1");
    let v1_sql = include_str!("../../migrations/0001_events.sql");
    let checksum = audit_core::ChainHasher::sha256()
        .hash_bytes(v1_sql.as_bytes())
        .to_hex();
    let src = source.schema().as_str().to_owned();
    exec(
        &source,
        format!(
            "CREATE SCHEMA \"{old}\";
         CREATE TABLE \"{old}\".audit_schema_migrations (version integer PRIMARY KEY,
             description text NOT NULL, checksum bytea NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now());
         {}
         INSERT INTO \"{old}\".audit_schema_migrations (version, description, checksum)
             VALUES (1, 'events, chain head, anchors, outbox, append-only triggers',
                     decode('{checksum}', 'hex'));
         INSERT INTO \"{old}\".audit_events SELECT * FROM \"{src}\".audit_events;
         UPDATE \"{old}\".audit_chain_head SET (seq, hash, algorithm) =
             (SELECT seq, hash, algorithm FROM \"{src}\".audit_chain_head);",
            v1_sql.replace("__SCHEMA__", &format!("\"{old}\""))
        ),
    )
    .await;
    let store = PgStore::connect_with(signed(PgOptions::new(&url).schema(&old).unwrap(), 10))
        .await
        .unwrap();
    assert_eq!(store.tree_size().await.unwrap(), 23);
    // The same events in the reference store give the same root.
    let reference = audit_core::sinks::MemorySink::new();
    for record in all_records(&store).await {
        reference.write(&[record.event]).await.unwrap();
    }
    assert_eq!(
        store.tree_head().await.unwrap(),
        reference.tree_head().await.unwrap()
    );
    store.append(&events(23..30)).await.unwrap();
    let checkpoint = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(checkpoint.head().size, 30);
    assert!(
        verify_log(&store, &checkpoint, &keys())
            .await
            .unwrap()
            .is_valid()
    );
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

/// A signed log of 30 events (checkpoints at 10, 20, 30), the auditor's copy of the newest,
/// and the store's schema with its append-only triggers disabled (as its owner can).
async fn thirty(url: &str, tag: &str) -> (PgStore, SignedCheckpoint) {
    let store = PgStore::connect_with(signed(options(url, tag), 10))
        .await
        .unwrap();
    for chunk in events(0..30).chunks(10) {
        store.append(chunk).await.unwrap();
    }
    let held = store.latest_checkpoint().await.unwrap().unwrap();
    let s = store.schema().as_str().to_owned();
    exec(
        &store,
        format!(
            "ALTER TABLE \"{s}\".audit_events DISABLE TRIGGER USER;
         ALTER TABLE \"{s}\".audit_tree DISABLE TRIGGER USER;"
        ),
    )
    .await;
    (store, held)
}

async fn fault_of(store: &PgStore, held: &SignedCheckpoint) -> (u64, TreeFaultKind) {
    let fault = verify_log(store, held, &keys())
        .await
        .unwrap()
        .fault
        .expect("a fault");
    (fault.seq, fault.kind)
}

#[tokio::test]
async fn a_modified_event_in_postgres_is_named_at_its_seq() {
    let url = require_pg!();
    let (store, held) = thirty(&url, "t_modify").await;
    let s = store.schema().as_str().to_owned();
    exec(
        &store,
        format!("UPDATE \"{s}\".audit_events SET actor_id = 'mallory' WHERE seq = 14"),
    )
    .await;
    assert_eq!(fault_of(&store, &held).await, (14, TreeFaultKind::Modified));
}

#[tokio::test]
async fn a_truncated_postgres_log_is_named_at_the_first_missing_seq() {
    let url = require_pg!();
    let (store, held) = thirty(&url, "t_truncate").await;
    let s = store.schema().as_str().to_owned();
    exec(&store, format!(
        "DELETE FROM \"{s}\".audit_events WHERE seq > 26; DELETE FROM \"{s}\".audit_tree WHERE seq > 26;
         UPDATE \"{s}\".audit_chain_head SET seq = 26"
    ))
    .await;
    assert_eq!(
        fault_of(&store, &held).await,
        (27, TreeFaultKind::Truncated)
    );
}

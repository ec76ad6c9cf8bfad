//! The Merkle tree in the file: proofs, signed checkpoints, and the tamper matrix judged
//! through checkpoints (each tampering done behind the store's back, found at its seq).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, FilePublisher, FnPublisher, Keyring, SignedCheckpoint,
    TransparencyLog, TreeFaultKind, check_fork, leaf_hash, verify_log,
};
use audit_core::{AuditEvent, AuditSink, AuditStore};
use audit_sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

use crate::common::{db_path, events, raw, rewrite_tree, tree_rows, varied_events};

const ORIGIN: &str = "audit.example/sqlite-test";

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(ORIGIN, &[42; 32]).unwrap()
}

fn keys() -> Keyring {
    Keyring::new(signer().verifying_key()).unwrap()
}

fn open_signed(dir: &TempDir, every: u64) -> SqliteStore {
    SqliteStore::open_with(
        SqliteOptions::new(db_path(dir)).checkpoints(
            CheckpointPolicy::new(signer())
                .every_events(every)
                .without_timer(),
        ),
    )
    .unwrap()
}

/// A signed log of 40 events appended 10 at a time (checkpoints at 10, 20, 30, 40), the
/// auditor's copy of the newest checkpoint, and a raw connection with every append-only
/// trigger dropped.
async fn forty() -> (SqliteStore, TempDir, SignedCheckpoint, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_signed(&dir, 10);
    let all = varied_events(7, 40);
    for chunk in all.chunks(10) {
        store.append(chunk).await.unwrap();
    }
    let held = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(held.head().size, 40);
    let conn = raw(&db_path(&dir));
    conn.execute_batch(
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;
         DROP TRIGGER audit_tree_runs_no_update; DROP TRIGGER audit_tree_runs_no_delete;
         DROP TRIGGER audit_checkpoints_no_delete;",
    )
    .unwrap();
    (store, dir, held, conn)
}

/// Verifying against `held` fails: an error, or a report that is not valid.
async fn assert_not_verified(store: &SqliteStore, held: &SignedCheckpoint) {
    let report = verify_log(store, held, &keys()).await;
    assert!(
        report.as_ref().is_err() || !report.as_ref().unwrap().is_valid(),
        "{report:?}"
    );
}

async fn fault_of(store: &SqliteStore, held: &SignedCheckpoint) -> (u64, TreeFaultKind) {
    let report = verify_log(store, held, &keys()).await.unwrap();
    let fault = report.fault.expect("a fault");
    (fault.seq, fault.kind)
}

#[tokio::test]
async fn an_untampered_log_verifies_against_its_signed_checkpoint() {
    let (store, _dir, held, _conn) = forty().await;
    let report = verify_log(&store, &held, &keys()).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 40);
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_events_and_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_signed(&dir, 10);
    for event in events(25, "USER_LOGIN") {
        store.append(&[event]).await.unwrap();
    }
    let sizes = |cps: Vec<SignedCheckpoint>| cps.iter().map(|c| c.head().size).collect::<Vec<_>>();
    assert_eq!(sizes(store.checkpoints(0, 100).await.unwrap()), [10, 20]);
    AuditSink::shutdown(&store).await.unwrap();
    assert_eq!(
        sizes(store.checkpoints(0, 100).await.unwrap()),
        [10, 20, 25]
    );
    // Signing again without growth adds nothing.
    store.sign_checkpoint().await.unwrap();
    assert_eq!(store.checkpoints(0, 100).await.unwrap().len(), 3);
    for checkpoint in store.checkpoints(0, 100).await.unwrap() {
        let head = checkpoint.verify(&keys()).unwrap();
        assert_eq!(head, store.tree_head_at(head.size).await.unwrap());
    }
}

#[tokio::test]
async fn the_timer_signs_a_checkpoint_once_the_tree_grew() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(
        SqliteOptions::new(db_path(&dir)).checkpoints(
            CheckpointPolicy::new(signer())
                .every_events(1_000_000)
                .every(Duration::from_millis(100)),
        ),
    )
    .unwrap();
    store.append(&events(3, "USER_LOGIN")).await.unwrap();
    let mut signed = None;
    for _ in 0..100 {
        signed = store.latest_checkpoint().await.unwrap();
        if signed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(signed.expect("the timer signed").head().size, 3);
}

#[tokio::test]
async fn every_checkpoint_reaches_the_publishers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("witness-checkpoint");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_callback = Arc::clone(&seen);
    let store = SqliteStore::open_with(
        SqliteOptions::new(db_path(&dir)).checkpoints(
            CheckpointPolicy::new(signer())
                .every_events(5)
                .without_timer()
                .publisher(FnPublisher(move |c: &SignedCheckpoint| {
                    seen_by_callback.lock().unwrap().push(c.head().size);
                    Ok(())
                })),
        ),
    )
    .unwrap();
    store.append(&events(12, "USER_LOGIN")).await.unwrap();
    store.append(&events(3, "USER_LOGIN")).await.unwrap(); // 15: not due yet
    store.append(&events(2, "USER_LOGIN")).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [12, 17]);

    let dir2 = tempfile::tempdir().unwrap();
    let to_file = SqliteStore::open_with(
        SqliteOptions::new(db_path(&dir2)).checkpoints(
            CheckpointPolicy::new(signer())
                .every_events(2)
                .without_timer()
                .publisher(FilePublisher::new(&file)),
        ),
    )
    .unwrap();
    to_file.append(&events(4, "USER_LOGIN")).await.unwrap();
    let published = SignedCheckpoint::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(published.verify(&keys()).unwrap().size, 4);
}

#[tokio::test]
async fn inclusion_proofs_by_seq_and_by_id_verify_against_the_checkpoint() {
    let (store, _dir, held, _conn) = forty().await;
    let head = held.verify(&keys()).unwrap();
    for seq in [1, 2, 17, 32, 40] {
        let record = store.get(seq).await.unwrap().unwrap();
        let by_seq = store.prove_inclusion(seq, head.size).await.unwrap();
        assert!(by_seq.hashes.len() <= 6, "log2(40) hashes at most");
        by_seq.verify(&leaf_hash(&record.event), &head).unwrap();
        let by_id = store
            .prove_inclusion_of(record.event.id, head.size)
            .await
            .unwrap();
        assert_eq!(by_id, by_seq);
        // The same proof does not hold another event.
        let other = store.get(seq % 40 + 1).await.unwrap().unwrap();
        assert!(by_seq.verify(&leaf_hash(&other.event), &head).is_err());
    }
}

#[tokio::test]
async fn proofs_beyond_the_tree_are_refused_with_its_size() {
    let (store, _dir, _held, _conn) = forty().await;
    let refusals = [
        store.prove_inclusion(3, 41).await.map(drop),
        store.prove_inclusion(41, 41).await.map(drop),
        store.prove_consistency(10, 41).await.map(drop),
    ];
    for refused in refusals {
        match refused {
            Err(audit_core::StoreError::InvalidRequest(why)) => {
                assert_eq!(why, "the tree has 40 leaves, not 41")
            }
            other => panic!("a proof beyond the tree was not refused: {other:?}"),
        }
    }
    store.prove_inclusion(40, 40).await.unwrap();
}

#[tokio::test]
async fn consistency_proofs_link_every_pair_of_checkpoints() {
    let (store, _dir, _held, _conn) = forty().await;
    let checkpoints = store.checkpoints(0, 100).await.unwrap();
    assert_eq!(checkpoints.len(), 4);
    for old in &checkpoints {
        for new in checkpoints
            .iter()
            .filter(|c| c.head().size >= old.head().size)
        {
            let (o, n) = (old.verify(&keys()).unwrap(), new.verify(&keys()).unwrap());
            let proof = store.prove_consistency(o.size, n.size).await.unwrap();
            proof.verify(&o, &n).unwrap();
        }
    }
}

#[tokio::test]
async fn an_archived_range_stays_provable_against_the_checkpoints_that_covered_it() {
    let (store, dir, held, _conn) = forty().await;
    let cut = store.get(16).await.unwrap().unwrap().event.occurred_at;
    let archive = store
        .archive(cut, dir.path().join("a.jsonl"))
        .await
        .unwrap();
    assert_eq!((archive.from_seq, archive.to_seq), (1, 15));
    let head = held.verify(&keys()).unwrap();
    let text = std::fs::read_to_string(&archive.path).unwrap();
    for line in text.lines().skip(1) {
        let record: audit_core::StoredEvent = serde_json::from_str(line).unwrap();
        let proof = store.prove_inclusion(record.seq, head.size).await.unwrap();
        proof.verify(&leaf_hash(&record.event), &head).unwrap();
    }
    // The live part still verifies against the old checkpoint (the archived prefix enters
    // through the kept tree rows), and the tree keeps growing from there.
    assert!(verify_log(&store, &held, &keys()).await.unwrap().is_valid());
    store.append(&events(5, "USER_LOGIN")).await.unwrap();
    let newer = store.sign_checkpoint().await.unwrap().unwrap();
    assert_eq!(newer.head().size, 46); // 40 + AUDIT_ARCHIVED + 5
    let report = verify_log(&store, &newer, &keys()).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    store
        .prove_consistency(40, 46)
        .await
        .unwrap()
        .verify(&head, &newer.head())
        .unwrap();
}

#[tokio::test]
async fn a_modified_event_is_named_at_its_seq() {
    let (store, _dir, held, conn) = forty().await;
    conn.execute(
        "UPDATE audit_events SET actor_id = 'mallory' WHERE seq = 23",
        [],
    )
    .unwrap();
    assert_eq!(fault_of(&store, &held).await, (23, TreeFaultKind::Modified));
}

#[tokio::test]
async fn a_deleted_event_is_missing_at_its_seq() {
    let (store, _dir, held, conn) = forty().await;
    conn.execute("DELETE FROM audit_events WHERE seq = 17", [])
        .unwrap();
    assert_eq!(fault_of(&store, &held).await, (17, TreeFaultKind::Missing));
}

#[tokio::test]
async fn an_inserted_event_is_named_where_it_was_put() {
    let (store, _dir, held, conn) = forty().await;
    // Renumber 25..=40 up by one and forge a row at 25 (copied from 3, given a new id).
    conn.execute_batch(
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 25;
         UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1025;
         INSERT INTO audit_events SELECT 25, randomblob(16), occurred_at, action, category,
             outcome, reason, actor_kind, actor_id, entity_type, entity_id, description, ip,
             user_agent, request_id, session_id, tenant, severity, metadata, prev_hash, hash
             FROM audit_events WHERE seq = 3;",
    )
    .unwrap();
    assert_eq!(fault_of(&store, &held).await, (25, TreeFaultKind::Modified));
}

#[tokio::test]
async fn reordered_events_are_named_at_the_first_moved_seq() {
    let (store, _dir, held, conn) = forty().await;
    conn.execute_batch(
        "UPDATE audit_events SET seq = 1012 WHERE seq = 12;
         UPDATE audit_events SET seq = 12 WHERE seq = 13;
         UPDATE audit_events SET seq = 13 WHERE seq = 1012;",
    )
    .unwrap();
    assert_eq!(fault_of(&store, &held).await, (12, TreeFaultKind::Modified));
}

#[tokio::test]
async fn a_truncated_tail_is_named_at_the_first_missing_seq() {
    let (store, _dir, held, conn) = forty().await;
    conn.execute("DELETE FROM audit_events WHERE seq >= 36", [])
        .unwrap();
    rewrite_tree(&conn, |rows| rows.retain(|&seq, _| seq < 36));
    assert_eq!(
        fault_of(&store, &held).await,
        (36, TreeFaultKind::Truncated)
    );
}

/// A new file holding `genuine` events copied from `from` (and its checkpoints up to
/// that size, whose signatures are genuine), then `forged` events: the chain and the tree
/// recomputed by the store itself, but no signing key (the forger signs with their own).
async fn rewrite(from: &SqliteStore, genuine: u64, forged: usize) -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let forger = CheckpointSigner::from_seed(ORIGIN, &[66; 32]).unwrap();
    let copy = SqliteStore::open_with(
        SqliteOptions::new(db_path(&dir)).checkpoints(
            CheckpointPolicy::new(forger)
                .every_events(10)
                .without_timer(),
        ),
    )
    .unwrap();
    let mut events = Vec::new();
    for seq in 1..=genuine {
        events.push(from.get(seq).await.unwrap().unwrap().event);
    }
    events.extend(varied_events(999, forged as u64));
    copy.append(&events).await.unwrap();
    let conn = raw(&db_path(&dir));
    conn.execute_batch("DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints;")
        .unwrap();
    for checkpoint in from.checkpoints(0, 100).await.unwrap() {
        if checkpoint.head().size <= genuine {
            conn.execute(
                "INSERT INTO audit_checkpoints VALUES (?1, ?2, ?3, 0)",
                rusqlite::params![
                    checkpoint.head().size as i64,
                    &checkpoint.head().root.as_bytes()[..],
                    checkpoint.as_str()
                ],
            )
            .unwrap();
        }
    }
    (copy, dir)
}

#[tokio::test]
async fn a_whole_rewrite_without_the_signing_key_is_named_from_seq_1() {
    let (store, _dir, held, _conn) = forty().await;
    let (rewritten, _rdir) = rewrite(&store, 0, 40).await;
    assert!(
        rewritten
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
    assert_eq!(
        fault_of(&rewritten, &held).await,
        (1, TreeFaultKind::Rewritten)
    );
}

#[tokio::test]
async fn a_rewrite_after_a_signed_prefix_is_named_after_it() {
    let (store, _dir, held, _conn) = forty().await;
    let (rewritten, _rdir) = rewrite(&store, 20, 20).await;
    assert_eq!(
        fault_of(&rewritten, &held).await,
        (21, TreeFaultKind::Rewritten)
    );
}

#[tokio::test]
async fn a_rollback_to_an_older_copy_is_truncated_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_signed(&dir, 10);
    let all = varied_events(7, 40);
    store.append(&all[..10]).await.unwrap();
    store.append(&all[10..20]).await.unwrap();
    // A backup at 20 events; the log then grows to 40 and the auditor keeps checkpoint 40.
    let backup = dir.path().join("backup.db");
    raw(&db_path(&dir))
        .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
        .unwrap();
    store.append(&all[20..30]).await.unwrap();
    store.append(&all[30..]).await.unwrap();
    let held = store.latest_checkpoint().await.unwrap().unwrap();
    let restored = SqliteStore::open(&backup).unwrap();
    assert!(
        restored
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
    assert_eq!(
        fault_of(&restored, &held).await,
        (21, TreeFaultKind::Truncated)
    );
}

#[tokio::test]
async fn a_rollback_that_grew_again_under_the_real_key_is_a_fork() {
    let (store, _dir, held, _conn) = forty().await;
    // The service was restored to a copy holding the first 20 events and kept running,
    // signing with its real key: 20 other events, checkpoints at 30 and 40.
    let dir = tempfile::tempdir().unwrap();
    let other = open_signed(&dir, 10);
    for seq in 1..=20 {
        other
            .append(&[store.get(seq).await.unwrap().unwrap().event])
            .await
            .unwrap();
    }
    for chunk in varied_events(555, 20).chunks(10) {
        other.append(chunk).await.unwrap();
    }
    let theirs = other.latest_checkpoint().await.unwrap().unwrap();
    let fork = check_fork(
        &held.verify(&keys()).unwrap(),
        &theirs.verify(&keys()).unwrap(),
    )
    .expect("same size, different roots");
    assert_eq!((fork.seq, fork.kind), (40, TreeFaultKind::Forked));
    assert_eq!(fault_of(&other, &held).await, (40, TreeFaultKind::Forked));
    // And no consistency proof from the other log links its tree to the held one.
    let proof = other.prove_consistency(30, 40).await.unwrap();
    let their30 = other.tree_head_at(30).await.unwrap();
    assert!(proof.verify(&their30, &held.head()).is_err());
}

#[tokio::test]
async fn a_rewritten_tree_table_is_reported_even_when_events_are_intact() {
    let (store, _dir, held, conn) = forty().await;
    rewrite_tree(&conn, |rows| rows.get_mut(&8).unwrap().fill(0));
    assert_eq!(
        fault_of(&store, &held).await,
        (8, TreeFaultKind::TreeTampered)
    );
}

#[tokio::test]
async fn a_cut_tree_run_is_an_error_at_its_seq_not_a_panic() {
    let (store, _dir, held, conn) = forty().await;
    // The run of 11..=20 loses its last byte: no row of it can be read.
    conn.execute(
        "UPDATE audit_tree_runs SET hashes = substr(hashes, 1, length(hashes) - 1) \
         WHERE first_seq = 11",
        [],
    )
    .unwrap();
    let err = store.prove_inclusion(12, 40).await.unwrap_err();
    assert!(err.to_string().contains("11..=20"), "{err}");
    assert_not_verified(&store, &held).await;
    // Proofs that need no row of that run are still answered.
    assert!(store.prove_inclusion(3, 8).await.is_ok());
}

#[tokio::test]
async fn a_run_claiming_seqs_up_to_i64_max_is_an_error_not_a_panic() {
    let (store, _dir, held, conn) = forty().await;
    conn.execute(
        "UPDATE audit_tree_runs SET last_seq = 9223372036854775807 WHERE first_seq = 1",
        [],
    )
    .unwrap();
    let err = store.prove_inclusion(3, 8).await.unwrap_err();
    assert!(err.to_string().contains("1..=9223372036854775807"), "{err}");
    assert_not_verified(&store, &held).await;
}

#[tokio::test]
async fn a_batch_is_stored_in_runs_that_end_at_multiples_of_256() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_signed(&dir, 1_000);
    let all = varied_events(3, 1_100);
    store.append(&all[..10]).await.unwrap();
    store.append(&all[10..1_100]).await.unwrap();
    let conn = raw(&db_path(&dir));
    let runs: Vec<(i64, i64)> = conn
        .prepare("SELECT first_seq, last_seq FROM audit_tree_runs ORDER BY first_seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        runs,
        vec![
            (1, 10),
            (11, 256),
            (257, 512),
            (513, 768),
            (769, 1024),
            (1025, 1100)
        ]
    );
    assert_eq!(tree_rows(&conn).len(), 1_100);
    let head = store.tree_head().await.unwrap();
    assert_eq!(head.size, 1_100);
    for seq in [1, 10, 11, 256, 257, 700, 1024, 1025, 1100] {
        let proof = store.prove_inclusion(seq, 1_100).await.unwrap();
        let record = store.get(seq).await.unwrap().unwrap();
        proof.verify(&leaf_hash(&record.event), &head).unwrap();
    }
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_refused() {
    let (store, _dir, _held, _conn) = forty().await;
    let stranger = CheckpointSigner::from_seed(ORIGIN, &[1; 32]).unwrap();
    let forged = stranger.sign(store.tree_head().await.unwrap()).unwrap();
    assert_eq!(
        fault_of(&store, &forged).await.1,
        TreeFaultKind::BadCheckpoint
    );
}

#[tokio::test]
async fn the_tree_and_the_chain_commit_together() {
    // A batch refused half-way (an invalid event) leaves neither events nor tree rows.
    let dir = tempfile::tempdir().unwrap();
    let store = open_signed(&dir, 1);
    store.append(&events(3, "USER_LOGIN")).await.unwrap();
    let mut bad = events(2, "USER_LOGIN");
    bad.push(AuditEvent::builder("not a valid code").build());
    assert!(store.append(&bad).await.is_err());
    assert_eq!(store.tree_size().await.unwrap(), 3);
    assert_eq!(store.head().await.unwrap().unwrap().seq, 3);
}

fn fixture(name: &str, dir: &TempDir) -> std::path::PathBuf {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let to = db_path(dir);
    std::fs::copy(from, &to).unwrap();
    to
}

#[tokio::test]
async fn a_schema_4_file_written_by_main_gets_its_tree_when_opened() {
    // tests/fixtures/schema-v4.db: 20 events written by main's audit-sqlite (schema 4).
    upgraded_file_gets_its_tree("schema-v4.db").await;
}

#[tokio::test]
async fn a_schema_3_file_gets_its_tree_when_opened() {
    // tests/fixtures/schema-v3.db: 20 events written by audit-sqlite at schema version 3.
    upgraded_file_gets_its_tree("schema-v3.db").await;
}

async fn upgraded_file_gets_its_tree(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(name, &dir);
    let store = open_signed(&dir, 10);
    let version: String = raw(&path)
        .query_row(
            "SELECT value FROM audit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, audit_sqlite::SCHEMA_VERSION.to_string());
    assert_eq!(store.tree_size().await.unwrap(), 20);
    // The same events in the reference store give the same root.
    let reference = audit_core::sinks::MemorySink::new();
    for seq in 1..=20 {
        reference
            .write(&[store.get(seq).await.unwrap().unwrap().event])
            .await
            .unwrap();
    }
    assert_eq!(
        store.tree_head().await.unwrap(),
        reference.tree_head().await.unwrap()
    );
    // Proofs, checkpoints and growth work on the upgraded file.
    let checkpoint = store.sign_checkpoint().await.unwrap().unwrap();
    assert!(
        verify_log(&store, &checkpoint, &keys())
            .await
            .unwrap()
            .is_valid()
    );
    store.append(&events(5, "USER_LOGIN")).await.unwrap();
    let newer = store.sign_checkpoint().await.unwrap().unwrap();
    let proof = store.prove_inclusion(7, 25).await.unwrap();
    let seventh = store.get(7).await.unwrap().unwrap();
    proof
        .verify(&leaf_hash(&seventh.event), &newer.head())
        .unwrap();
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn a_schema_3_file_that_had_archived_keeps_working_without_a_tree() {
    // tests/fixtures/schema-v3-archived.db: 8 events, 5 archived, then AUDIT_ARCHIVED.
    let dir = tempfile::tempdir().unwrap();
    fixture("schema-v3-archived.db", &dir);
    let store = open_signed(&dir, 1);
    assert_eq!(store.tree_size().await.unwrap(), 0);
    store.append(&events(3, "USER_LOGIN")).await.unwrap();
    assert_eq!(store.tree_size().await.unwrap(), 0);
    assert!(store.sign_checkpoint().await.unwrap().is_none());
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn a_schema_6_file_written_by_main_keeps_its_tree_and_its_checkpoints_prove() {
    // tests/fixtures/schema-v6.db: 300 events written by main's audit-sqlite (schema 6, a
    // tree row per event) in batches of 1, 7, 64, 120, 3 and 105, signed every 100 events
    // by this key: checkpoints at 192 and 300.
    const FIXTURE_ORIGIN: &str = "audit.example/schema-v6-fixture";
    let signer = || CheckpointSigner::from_seed(FIXTURE_ORIGIN, &[6; 32]).unwrap();
    let keys = Keyring::new(signer().verifying_key()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v6.db"),
        &path,
    )
    .unwrap();
    let store = SqliteStore::open_with(
        SqliteOptions::new(&path).checkpoints(
            CheckpointPolicy::new(signer())
                .every_events(100)
                .without_timer(),
        ),
    )
    .unwrap();
    let conn = raw(&path);
    let old_table: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_tree'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old_table, 0, "the row-per-event table is gone");
    assert_eq!(tree_rows(&conn).len(), 300);

    let signed = store.checkpoints(0, 10).await.unwrap();
    let sizes: Vec<u64> = signed.iter().map(|c| c.head().size).collect();
    assert_eq!(sizes, vec![192, 300]);
    let (at192, at300) = (
        signed[0].verify(&keys).unwrap(),
        signed[1].verify(&keys).unwrap(),
    );
    // Main's signed roots are the converted tree's roots, and every event proves.
    assert_eq!(store.tree_head_at(192).await.unwrap(), at192);
    assert_eq!(store.tree_head_at(300).await.unwrap(), at300);
    for seq in 1..=300 {
        let record = store.get(seq).await.unwrap().unwrap();
        let proof = store.prove_inclusion(seq, 300).await.unwrap();
        proof.verify(&leaf_hash(&record.event), &at300).unwrap();
    }
    store
        .prove_consistency(192, 300)
        .await
        .unwrap()
        .verify(&at192, &at300)
        .unwrap();
    assert!(
        verify_log(&store, &signed[1], &keys)
            .await
            .unwrap()
            .is_valid()
    );

    // The log grows on from the converted runs and stays consistent with main's checkpoint.
    store.append(&varied_events(9, 120)).await.unwrap();
    let latest = store.latest_checkpoint().await.unwrap().unwrap();
    let head = latest.verify(&keys).unwrap();
    assert_eq!(head.size, 420);
    store
        .prove_consistency(300, 420)
        .await
        .unwrap()
        .verify(&at300, &head)
        .unwrap();
    let report = verify_log(&store, &latest, &keys).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test]
async fn after_a_key_rotation_old_and_new_checkpoints_verify_with_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let old = CheckpointSigner::from_seed(ORIGIN, &[1; 32]).unwrap();
    let new = CheckpointSigner::from_seed(ORIGIN, &[2; 32]).unwrap();
    let open = |signer: &CheckpointSigner| {
        SqliteStore::open_with(
            SqliteOptions::new(&path).checkpoints(
                CheckpointPolicy::new(signer.clone())
                    .every_events(10)
                    .without_timer(),
            ),
        )
        .unwrap()
    };
    // A checkpoint is due at the end of an append, so 10 at a time signs at every 10.
    let store = open(&old);
    for chunk in varied_events(4, 20).chunks(10) {
        store.append(chunk).await.unwrap();
    }
    drop(store);
    // Rotated: the store now signs with the new key.
    let store = open(&new);
    for chunk in varied_events(5, 20).chunks(10) {
        store.append(chunk).await.unwrap();
    }
    let signed = store.checkpoints(0, 10).await.unwrap();
    let sizes: Vec<u64> = signed.iter().map(|c| c.head().size).collect();
    assert_eq!(sizes, vec![10, 20, 30, 40]);

    // The new key alone refuses what the old key signed; the keyring of both (as a key
    // file holds them, one per line) verifies every checkpoint and every consistency step.
    let only_new = Keyring::new(new.verifying_key()).unwrap();
    assert!(signed[1].verify(&only_new).is_err());
    assert!(signed[2].verify(&only_new).is_ok());
    let file = dir.path().join("verifiers.pub");
    std::fs::write(
        &file,
        format!(
            "# the current key\n{}\n# retired\n{}\n",
            new.verifying_key(),
            old.verifying_key()
        ),
    )
    .unwrap();
    let both = Keyring::from_file(&file).unwrap();
    let heads: Vec<_> = signed.iter().map(|c| c.verify(&both).unwrap()).collect();
    for pair in heads.windows(2) {
        store
            .prove_consistency(pair[0].size, pair[1].size)
            .await
            .unwrap()
            .verify(&pair[0], &pair[1])
            .unwrap();
    }
    for checkpoint in &signed {
        let report = verify_log(&store, checkpoint, &both).await.unwrap();
        assert!(report.is_valid(), "{report:?}");
    }
    // A key of another log cannot join the keyring.
    let stranger = CheckpointSigner::from_seed("audit.example/another-log", &[3; 32]).unwrap();
    assert!(both.with(stranger.verifying_key()).is_err());
}

const SIGNER_ENV: &str = "AUDIT_SQLITE_TEST_SIGNER_KEY";
const SIGNER_DB_ENV: &str = "AUDIT_SQLITE_TEST_SIGNER_DB";

/// Run again by `a_signer_loaded_from_the_environment_signs_checkpoints` with the key in
/// the environment: signs 5 events into the named file. In a normal run it returns at once.
#[tokio::test]
async fn signer_from_the_environment_child() {
    let Ok(path) = std::env::var(SIGNER_DB_ENV) else {
        return;
    };
    let signer = CheckpointSigner::from_env(SIGNER_ENV).unwrap();
    let store = SqliteStore::open_with(
        SqliteOptions::new(path).checkpoints(
            CheckpointPolicy::new(signer)
                .every_events(5)
                .without_timer(),
        ),
    )
    .unwrap();
    store.append(&varied_events(6, 5)).await.unwrap();
}

#[tokio::test]
async fn a_signer_loaded_from_the_environment_signs_checkpoints() {
    assert!(CheckpointSigner::from_env("AUDIT_SQLITE_TEST_NO_SUCH_VARIABLE").is_err());
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let key = signer();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tlog::signer_from_the_environment_child"])
        .env(SIGNER_ENV, key.private_key())
        .env(SIGNER_DB_ENV, &path)
        .status()
        .unwrap();
    assert!(status.success(), "the child store failed");
    let store = SqliteStore::open(&path).unwrap();
    let latest = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(latest.verify(&keys()).unwrap().size, 5);
}

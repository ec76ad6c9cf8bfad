//! The Merkle tree in MySQL/MariaDB: one tree across writers, proofs, signed checkpoints,
//! the schema-1 upgrade, a forged row, and tampering judged through checkpoints.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::tlog::{SignedCheckpoint, TransparencyLog, TreeFaultKind, verify_log};
use audit_sqlx::{MySqlOptions, MySqlStore};

use crate::common::*;
use crate::support::tlog;

fn signed(options: MySqlOptions, every: u64) -> MySqlOptions {
    options.checkpoints(tlog::policy(every))
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_events_and_at_shutdown() {
    let url = require_mysql!();
    let store = MySqlStore::connect_with(signed(options(&url, "cp_every"), 10))
        .await
        .unwrap();
    tlog::check_checkpoints_every_n_events_and_at_shutdown(store).await;
}

#[tokio::test]
async fn proofs_from_mysql_verify_against_its_signed_checkpoint() {
    let url = require_mysql!();
    let store = MySqlStore::connect_with(signed(options(&url, "proofs"), 1000))
        .await
        .unwrap();
    tlog::check_proofs_verify_against_a_signed_checkpoint(store).await;
}

#[tokio::test]
async fn writers_on_several_connections_extend_one_tree() {
    let url = require_mysql!();
    let options = signed(options(&url, "writers"), 50);
    let a = MySqlStore::connect_with(options.clone()).await.unwrap();
    let b = MySqlStore::connect_with(options.clone()).await.unwrap();
    let c = MySqlStore::connect_with(options).await.unwrap();
    tlog::check_writers_extend_one_tree([a, b, c]).await;
}

#[tokio::test]
async fn a_schema_1_log_gets_its_tree_when_migrated() {
    let url = require_mysql!();
    let opts = options(&url, "v1");
    let store = MySqlStore::connect_with(opts.clone()).await.unwrap();
    store.append(&events(0..23)).await.unwrap();
    // Back to what version 1 left: no tree tables, no version-2 row.
    exec(
        &url,
        &format!(
            "DROP TABLE {}, {}, {}; DELETE FROM {} WHERE version = 2",
            table(&store, "tree"),
            table(&store, "checkpoints"),
            table(&store, "tree_head"),
            table(&store, "schema_migrations"),
        ),
    )
    .await
    .unwrap();
    drop(store);
    let store = MySqlStore::connect_with(signed(opts, 10)).await.unwrap();
    assert_eq!(store.tree_size().await.unwrap(), 23);
    tlog::assert_same_root_as_memory(&store).await;
    store.append(&events(23..30)).await.unwrap();
    let checkpoint = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(checkpoint.head().size, 30);
    assert!(
        verify_log(&store, &checkpoint, &tlog::keys())
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn tree_rows_and_checkpoints_refuse_update_and_delete() {
    let url = require_mysql!();
    let store = MySqlStore::connect_with(signed(options(&url, "tree_ro"), 5))
        .await
        .unwrap();
    store.append(&events(0..6)).await.unwrap();
    for sql in [
        format!(
            "UPDATE {} SET hashes = x'00' WHERE seq = 1",
            table(&store, "tree")
        ),
        format!("DELETE FROM {} WHERE seq = 6", table(&store, "tree")),
        format!("UPDATE {} SET note = 'x'", table(&store, "checkpoints")),
        format!("DELETE FROM {}", table(&store, "checkpoints")),
    ] {
        let err = exec(&url, &sql).await.expect_err(&sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_row_forged_beyond_the_head_keeps_leaf_indexes_at_seqs() {
    let url = require_mysql!();
    let store = fresh_store(&url, "tree_forged").await;
    store.append(&events(0..3)).await.unwrap();
    // A copy of row 3 at seq 4 under another id, behind the head's back.
    tamper(&url, &store, |t| {
        format!(
            "CREATE TEMPORARY TABLE forged AS SELECT * FROM {t} WHERE seq = 3;
             UPDATE forged SET seq = 4, id = UNHEX(REPLACE(UUID(), '-', ''));
             INSERT INTO {t} SELECT * FROM forged;"
        )
    })
    .await;
    let positions = store.append(&events(3..5)).await.unwrap();
    assert_eq!(positions[0].seq, 5);
    assert_eq!(store.tree_size().await.unwrap(), 6);
    tlog::assert_same_root_as_memory(&store).await;
}

/// A signed log of 30 events (checkpoints at 10, 20, 30) and the auditor's copy of the newest.
async fn thirty(url: &str, tag: &str) -> (MySqlStore, SignedCheckpoint) {
    let store = MySqlStore::connect_with(signed(options(url, tag), 10))
        .await
        .unwrap();
    for chunk in events(0..30).chunks(10) {
        store.append(chunk).await.unwrap();
    }
    let held = store.latest_checkpoint().await.unwrap().unwrap();
    (store, held)
}

async fn fault_of(store: &MySqlStore, held: &SignedCheckpoint) -> (u64, TreeFaultKind) {
    let fault = verify_log(store, held, &tlog::keys())
        .await
        .unwrap()
        .fault
        .expect("a fault");
    (fault.seq, fault.kind)
}

#[tokio::test]
async fn a_modified_event_in_mysql_is_named_at_its_seq() {
    let url = require_mysql!();
    let (store, held) = thirty(&url, "t_modify").await;
    tamper(&url, &store, |t| {
        format!("UPDATE {t} SET actor_id = 'mallory' WHERE seq = 14")
    })
    .await;
    assert_eq!(fault_of(&store, &held).await, (14, TreeFaultKind::Modified));
}

#[tokio::test]
async fn a_deleted_event_in_mysql_is_named_at_its_seq() {
    let url = require_mysql!();
    let (store, held) = thirty(&url, "t_delete").await;
    tamper(&url, &store, |t| format!("DELETE FROM {t} WHERE seq = 9")).await;
    let (seq, _) = fault_of(&store, &held).await;
    assert_eq!(seq, 9);
}

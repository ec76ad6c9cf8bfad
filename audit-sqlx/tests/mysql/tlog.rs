//! The Merkle tree in MySQL/MariaDB: one tree across writers, proofs, signed checkpoints,
//! the schema-1 upgrade, a forged row, and the tamper matrix (each tampering done by the
//! tables' owner behind the store's back, judged through signed checkpoints; the bodies are
//! shared with PostgreSQL).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::tlog::{TransparencyLog, verify_log};
use audit_sqlx::{MySqlOptions, MySqlStore};

use crate::common::*;
use crate::support::tlog;

fn signed(options: MySqlOptions, every: u64) -> MySqlOptions {
    options.checkpoints(tlog::policy(every))
}

/// A store in a fresh database signing every 10 events.
async fn signed_store(url: &str, tag: &str) -> MySqlStore {
    MySqlStore::connect_with(signed(options(url, tag), 10))
        .await
        .unwrap()
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
async fn proofs_beyond_the_tree_are_refused() {
    let url = require_mysql!();
    let store = MySqlStore::connect_with(options(&url, "beyond"))
        .await
        .unwrap();
    tlog::check_proofs_beyond_the_tree_are_refused(store).await;
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
    // Back to what version 1 left: no tree tables, no version-2 or -3 row.
    exec(
        &url,
        &format!(
            "DROP TABLE {}, {}, {}, {}; DELETE FROM {} WHERE version >= 2",
            table(&store, "tree_guard"),
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

#[tokio::test]
async fn an_untampered_log_verifies_against_its_signed_checkpoint() {
    let url = require_mysql!();
    tlog::check_an_untampered_log_verifies_against_its_signed_checkpoint(
        signed_store(&url, "t_intact").await,
    )
    .await;
}

#[tokio::test]
async fn a_modified_event_is_named_at_its_seq() {
    let url = require_mysql!();
    tlog::check_a_modified_event_is_named_at_its_seq(signed_store(&url, "t_modify").await).await;
}

#[tokio::test]
async fn a_deleted_event_is_missing_at_its_seq() {
    let url = require_mysql!();
    tlog::check_a_deleted_event_is_missing_at_its_seq(signed_store(&url, "t_delete").await).await;
}

#[tokio::test]
async fn an_inserted_event_is_named_where_it_was_put() {
    let url = require_mysql!();
    tlog::check_an_inserted_event_is_named_where_it_was_put(signed_store(&url, "t_insert").await)
        .await;
}

#[tokio::test]
async fn reordered_events_are_named_at_the_first_moved_seq() {
    let url = require_mysql!();
    tlog::check_reordered_events_are_named_at_the_first_moved_seq(
        signed_store(&url, "t_reorder").await,
    )
    .await;
}

#[tokio::test]
async fn a_truncated_tail_is_named_at_the_first_missing_seq() {
    let url = require_mysql!();
    tlog::check_a_truncated_tail_is_named_at_the_first_missing_seq(
        signed_store(&url, "t_truncate").await,
    )
    .await;
}

#[tokio::test]
async fn a_whole_rewrite_without_the_signing_key_is_named_from_seq_1() {
    let url = require_mysql!();
    tlog::check_a_whole_rewrite_without_the_signing_key_is_named_from_seq_1(
        signed_store(&url, "t_rewrite").await,
    )
    .await;
}

#[tokio::test]
async fn a_rewrite_after_a_signed_prefix_is_named_after_it() {
    let url = require_mysql!();
    tlog::check_a_rewrite_after_a_signed_prefix_is_named_after_it(
        signed_store(&url, "t_rewrite20").await,
    )
    .await;
}

#[tokio::test]
async fn a_rollback_to_an_older_state_is_truncated_after_it() {
    let url = require_mysql!();
    tlog::check_a_rollback_to_an_older_state_is_truncated_after_it(
        signed_store(&url, "t_rollback").await,
    )
    .await;
}

#[tokio::test]
async fn a_rollback_that_grew_again_under_the_real_key_is_a_fork() {
    let url = require_mysql!();
    tlog::check_a_rollback_that_grew_again_under_the_real_key_is_a_fork(
        signed_store(&url, "t_fork").await,
    )
    .await;
}

#[tokio::test]
async fn a_rewritten_tree_row_is_reported_even_when_events_are_intact() {
    let url = require_mysql!();
    tlog::check_a_rewritten_tree_row_is_reported_even_when_events_are_intact(
        signed_store(&url, "t_treerow").await,
    )
    .await;
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_refused() {
    let url = require_mysql!();
    tlog::check_a_checkpoint_signed_by_another_key_is_refused(
        signed_store(&url, "t_otherkey").await,
    )
    .await;
}

#[tokio::test]
async fn an_archive_verifies_against_the_checkpoints_that_covered_it() {
    let url = require_mysql!();
    tlog::check_an_archive_verifies_against_the_checkpoints_that_covered_it(
        signed_store(&url, "t_archive").await,
    )
    .await;
}

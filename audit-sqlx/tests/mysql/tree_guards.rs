//! The Merkle tree's tables refuse what the events table refuses: UPDATE and DELETE through
//! triggers, TRUNCATE and DROP through the empty table that references them, for every user;
//! the application user lacks the privileges besides; checkpoints beyond the chain head are
//! refused, and a tree row the application user forges does not stop the writers. What the
//! owner does around all that is reported by verification against a signed checkpoint.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::AuditStore;
use audit_core::tlog::TransparencyLog;
use audit_sqlx::MySqlStore;

use crate::common::*;
use crate::grants::app_store;

/// A store signing every 5 events, holding 6.
async fn signed_with_rows(url: &str, tag: &str) -> MySqlStore {
    let store = MySqlStore::connect_with(options(url, tag).checkpoints(tlog::policy(5)))
        .await
        .unwrap();
    store.append(&events(0..6)).await.unwrap();
    store
}

/// The tree, checkpoint and tree head rows are all still there.
async fn intact(store: &MySqlStore) {
    assert_eq!(store.tree_size().await.unwrap(), 6);
    assert_eq!(store.checkpoints(0, 10).await.unwrap().len(), 1);
    assert_eq!(store.tree_head().await.unwrap().size, 6);
}

#[tokio::test]
async fn tree_tables_refuse_update_and_delete_even_for_the_owner() {
    let url = require_mysql!();
    let store = signed_with_rows(&url, "tree_ro").await;
    let [tree, checkpoints, head] = ["tree", "checkpoints", "tree_head"].map(|t| table(&store, t));
    for sql in [
        format!("UPDATE {tree} SET hashes = x'00' WHERE seq = 1"),
        format!("DELETE FROM {tree} WHERE seq = 6"),
        format!("UPDATE {checkpoints} SET note = 'x'"),
        format!("DELETE FROM {checkpoints}"),
        format!("DELETE FROM {head}"),
    ] {
        let msg = refused(&sql, exec(&url, &sql).await);
        assert!(
            msg.contains("append-only") || msg.contains("is kept"),
            "{sql}: {msg}"
        );
    }
    intact(&store).await;
}

#[tokio::test]
async fn tree_tables_refuse_truncate_and_drop_even_for_the_owner() {
    let url = require_mysql!();
    let store = signed_with_rows(&url, "tree_notrunc").await;
    for t in ["tree", "checkpoints", "tree_head"] {
        for sql in [
            format!("TRUNCATE TABLE {}", table(&store, t)),
            format!("DROP TABLE {}", table(&store, t)),
        ] {
            let msg = refused(&sql, exec(&url, &sql).await);
            assert!(msg.contains("foreign key"), "{sql}: {msg}");
        }
    }
    intact(&store).await;
}

#[tokio::test]
async fn the_app_user_cannot_truncate_or_rewrite_the_tree_tables() {
    let url = require_mysql!();
    let store = signed_with_rows(&url, "tree_app").await;
    let (_, app_url) = app_store(&url, &store).await;
    let [tree, checkpoints, head] = ["tree", "checkpoints", "tree_head"].map(|t| table(&store, t));
    for (sql, denied) in [
        (format!("UPDATE {tree} SET hashes = x'00'"), "UPDATE"),
        (format!("DELETE FROM {tree}"), "DELETE"),
        (format!("UPDATE {checkpoints} SET note = 'x'"), "UPDATE"),
        (format!("DELETE FROM {checkpoints}"), "DELETE"),
        (format!("DELETE FROM {head}"), "DELETE"),
        // Even with the guard's foreign key checks off: TRUNCATE needs DROP.
        (
            format!("SET foreign_key_checks = 0; TRUNCATE TABLE {tree}"),
            "DROP",
        ),
        (
            format!("SET foreign_key_checks = 0; TRUNCATE TABLE {checkpoints}"),
            "DROP",
        ),
        (
            format!("SET foreign_key_checks = 0; TRUNCATE TABLE {head}"),
            "DROP",
        ),
    ] {
        let msg = refused(&sql, exec(&app_url, &sql).await);
        assert!(
            msg.contains(&format!("{denied} command denied")),
            "{sql}: {msg}"
        );
    }
    intact(&store).await;
}

#[tokio::test]
async fn the_app_user_cannot_add_a_checkpoint_beyond_the_head() {
    let url = require_mysql!();
    let store = signed_with_rows(&url, "cp_ahead").await;
    let (_, app_url) = app_store(&url, &store).await;
    let checkpoints = table(&store, "checkpoints");
    // A checkpoint at a size the log has not reached would stand in for the one the writer
    // signs there.
    let sql = format!(
        "INSERT INTO {checkpoints} (tree_size, root, note) SELECT 10, root, note FROM {checkpoints}"
    );
    let msg = refused(&sql, exec(&app_url, &sql).await);
    assert!(msg.contains("through the chain head"), "{msg}");
    store.append(&events(6..10)).await.unwrap();
    let newest = store.sign_checkpoint().await.unwrap().unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(newest));
}

#[tokio::test]
async fn a_tree_row_forged_by_the_app_user_is_reported_and_the_writer_goes_on() {
    let url = require_mysql!();
    let store = signed_with_rows(&url, "tree_forged_app").await;
    let (app, app_url) = app_store(&url, &store).await;
    let tree = table(&store, "tree");
    // At the seq the next write takes (row 1's hashes): the writer's own row cannot go in.
    exec(
        &app_url,
        &format!("INSERT INTO {tree} SELECT 7, hashes FROM {tree} WHERE seq = 1"),
    )
    .await
    .unwrap();
    app.append(&events(6..10)).await.unwrap();
    assert_eq!(store.tree_size().await.unwrap(), 10);
    let newest = store.sign_checkpoint().await.unwrap().unwrap();
    assert_eq!(newest.head().size, 10);
    let fault = audit_core::tlog::verify_log(&store, &newest, &tlog::keys())
        .await
        .unwrap()
        .fault
        .expect("the forged row is reported");
    assert_eq!(
        (fault.seq, fault.kind),
        (7, audit_core::tlog::TreeFaultKind::TreeTampered)
    );
    // The events themselves are all there and chained.
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn tree_tables_rewritten_by_their_owner_are_reported() {
    let url = require_mysql!();
    let store = MySqlStore::connect_with(options(&url, "tree_owner").checkpoints(tlog::policy(10)))
        .await
        .unwrap();
    tlog::check_tree_tables_rewritten_by_their_owner_are_reported(store).await;
}

#[tokio::test]
async fn a_schema_2_database_gets_the_tree_guards_when_migrated() {
    let url = require_mysql!();
    let opts = options(&url, "tree_v2");
    let store = MySqlStore::connect_with(opts.clone().checkpoints(tlog::policy(5)))
        .await
        .unwrap();
    store.append(&events(0..6)).await.unwrap();
    // Back to what version 2 left: version 3 only added these.
    let db = store.database().unwrap().to_string();
    exec(
        &url,
        &format!(
            "DROP TABLE {}; DROP TRIGGER `{db}`.`{p}tree_head_no_delete`;
             DROP TRIGGER `{db}`.`{p}checkpoints_within_head`;
             DELETE FROM {} WHERE version = 3",
            table(&store, "tree_guard"),
            table(&store, "schema_migrations"),
            p = store.table_prefix(),
        ),
    )
    .await
    .unwrap();
    let sql = format!("TRUNCATE TABLE {}", table(&store, "checkpoints"));
    drop(store);
    let store = MySqlStore::connect_with(opts.checkpoints(tlog::policy(5)))
        .await
        .unwrap();
    let msg = refused(&sql, exec(&url, &sql).await);
    assert!(msg.contains("foreign key"), "{msg}");
    let sql = format!("DELETE FROM {}", table(&store, "tree_head"));
    let msg = refused(&sql, exec(&url, &sql).await);
    assert!(msg.contains("is kept"), "{msg}");
    let checkpoints = table(&store, "checkpoints");
    let sql = format!(
        "INSERT INTO {checkpoints} (tree_size, root, note) SELECT 10, root, note FROM {checkpoints}"
    );
    let msg = refused(&sql, exec(&url, &sql).await);
    assert!(msg.contains("through the chain head"), "{msg}");
    intact(&store).await;
    store.append(&events(6..8)).await.unwrap();
    assert_eq!(store.tree_size().await.unwrap(), 8);
}

//! The Merkle tree's tables refuse what the events table refuses: UPDATE, DELETE and TRUNCATE
//! for every role (triggers), anything but INSERT and SELECT for the app role (grants), and
//! rows beyond the chain head. What the owner does around the triggers is reported by
//! verification against a signed checkpoint.

use audit_core::tlog::TransparencyLog;
use audit_sqlx::{PgOptions, PgStore};

use crate::append_only::app_role;
use crate::common::*;

/// A store signing every 5 events, holding 6.
async fn signed_with_rows(url: &str, tag: &str) -> PgStore {
    let store = PgStore::connect_with(options(url, tag).checkpoints(tlog::policy(5)))
        .await
        .unwrap();
    store.append(&events(0..6)).await.unwrap();
    store
}

/// What rewrites the tree's tables: every row changed, removed, or all at once.
fn rewrites(store: &PgStore) -> Vec<String> {
    let s = store.schema();
    let mut all = Vec::new();
    for (table, column) in [("audit_tree", "hashes"), ("audit_checkpoints", "root")] {
        all.push(format!("UPDATE {s}.{table} SET {column} = '\\x00'"));
        all.push(format!("DELETE FROM {s}.{table}"));
        all.push(format!("TRUNCATE {s}.{table}"));
    }
    all
}

#[tokio::test]
async fn tree_tables_refuse_update_delete_and_truncate_even_for_the_owner() {
    let url = require_pg!();
    let store = signed_with_rows(&url, "treero").await;
    for sql in rewrites(&store) {
        let msg = refused(&sql, exec(&url, &sql).await);
        assert!(msg.contains("append-only"), "{sql}: {msg}");
    }
    assert_eq!(store.tree_size().await.unwrap(), 6);
    assert_eq!(store.checkpoints(0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_app_role_cannot_truncate_or_rewrite_the_tree_tables() {
    let url = require_pg!();
    let store = signed_with_rows(&url, "treeapp").await;
    let app_url = app_role(&url, store.schema().as_str()).await;
    for sql in rewrites(&store) {
        let msg = refused(&sql, exec(&app_url, &sql).await);
        assert!(msg.contains("permission denied"), "{sql}: {msg}");
    }
    assert_eq!(store.tree_size().await.unwrap(), 6);
}

#[tokio::test]
async fn the_app_role_cannot_add_tree_rows_or_checkpoints_beyond_the_head() {
    let url = require_pg!();
    let store = signed_with_rows(&url, "treeahead").await;
    let app_url = app_role(&url, store.schema().as_str()).await;
    let s = store.schema();
    // A tree row at the seq the next write takes would stop every writer (its primary key
    // taken); a checkpoint there would stand in for the one the writer signs.
    for sql in [
        format!("INSERT INTO {s}.audit_tree SELECT 7, hashes FROM {s}.audit_tree WHERE seq = 1"),
        format!(
            "INSERT INTO {s}.audit_checkpoints (tree_size, root, note) \
             SELECT 10, root, note FROM {s}.audit_checkpoints"
        ),
    ] {
        let msg = refused(&sql, exec(&app_url, &sql).await);
        assert!(msg.contains("through the chain head"), "{sql}: {msg}");
    }
    let app = PgStore::connect_with(
        PgOptions::new(&app_url)
            .schema(s.as_str())
            .unwrap()
            .migrate(false)
            .checkpoints(tlog::policy(5)),
    )
    .await
    .unwrap();
    app.append(&events(6..10)).await.unwrap();
    let newest = app.sign_checkpoint().await.unwrap().unwrap();
    assert_eq!(newest.head().size, 10);
    let report = audit_core::tlog::verify_log(&app, &newest, &tlog::keys())
        .await
        .unwrap();
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test]
async fn tree_tables_rewritten_by_their_owner_are_reported() {
    let url = require_pg!();
    let store = PgStore::connect_with(options(&url, "treeowner").checkpoints(tlog::policy(10)))
        .await
        .unwrap();
    tlog::check_tree_tables_rewritten_by_their_owner_are_reported(store).await;
}

#[tokio::test]
async fn a_schema_5_log_gets_the_within_head_guards_when_migrated() {
    let url = require_pg!();
    let store = signed_with_rows(&url, "treev5").await;
    let s = store.schema();
    // Back to what version 5 left: version 6 only added these.
    exec(
        &url,
        &format!(
            "DROP TRIGGER audit_tree_within_head ON {s}.audit_tree;
             DROP TRIGGER audit_checkpoints_within_head ON {s}.audit_checkpoints;
             DROP FUNCTION {s}.audit_tree_within_head();
             DROP FUNCTION {s}.audit_checkpoints_within_head();
             DELETE FROM {s}.audit_schema_migrations WHERE version = 6;"
        ),
    )
    .await
    .unwrap();
    let reopened = PgStore::connect_with(
        PgOptions::new(&url)
            .schema(s.as_str())
            .unwrap()
            .checkpoints(tlog::policy(5)),
    )
    .await
    .unwrap();
    let app_url = app_role(&url, s.as_str()).await;
    let sql =
        format!("INSERT INTO {s}.audit_tree SELECT 7, hashes FROM {s}.audit_tree WHERE seq = 1");
    let msg = refused(&sql, exec(&app_url, &sql).await);
    assert!(msg.contains("through the chain head"), "{msg}");
    reopened.append(&events(6..8)).await.unwrap();
    assert_eq!(reopened.tree_size().await.unwrap(), 8);
}

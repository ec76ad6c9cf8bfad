//! The events table refuses UPDATE and DELETE through triggers, and TRUNCATE and DROP
//! through the empty table that references it, even for a user with every privilege.

use audit_core::AuditStore;
use audit_core::query::AuditQuery;

use crate::common::*;

fn refused(result: Result<u64, sqlx_core::Error>) -> String {
    match result {
        Ok(n) => panic!("statement succeeded ({n} rows) on an append-only table"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn update_is_refused_even_for_the_owner() {
    let url = require_mysql!();
    let store = store_with(&url, "noupdate", 3).await;
    let t = table(&store, "events");
    let msg = refused(exec(&url, &format!("UPDATE {t} SET description = 'x'")).await);
    assert!(msg.contains("append-only: UPDATE refused"), "{msg}");
    assert_eq!(
        store
            .count(&AuditQuery::new().description_contains("x"))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn delete_is_refused_even_for_the_owner() {
    let url = require_mysql!();
    let store = store_with(&url, "nodelete", 3).await;
    let msg = refused(exec(&url, &format!("DELETE FROM {}", table(&store, "events"))).await);
    assert!(msg.contains("append-only: DELETE refused"), "{msg}");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn truncate_is_refused_even_for_the_owner() {
    let url = require_mysql!();
    let store = store_with(&url, "notruncate", 3).await;
    let msg = refused(exec(&url, &format!("TRUNCATE TABLE {}", table(&store, "events"))).await);
    assert!(msg.contains("foreign key"), "{msg}");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn drop_table_is_refused_even_for_the_owner() {
    let url = require_mysql!();
    let store = store_with(&url, "nodrop", 3).await;
    let msg = refused(exec(&url, &format!("DROP TABLE {}", table(&store, "events"))).await);
    assert!(msg.contains("foreign key"), "{msg}");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn retention_anchors_refuse_update_and_delete() {
    let url = require_mysql!();
    let store = store_with(&url, "anchorsro", 3).await;
    store
        .purge_before(chrono::Utc::now() + chrono::Duration::days(1))
        .await
        .unwrap();
    let anchors = table(&store, "anchors");
    let msg = refused(exec(&url, &format!("UPDATE {anchors} SET seq = 1")).await);
    assert!(msg.contains("append-only"), "{msg}");
    let msg = refused(exec(&url, &format!("DELETE FROM {anchors}")).await);
    assert!(msg.contains("append-only"), "{msg}");
    let msg = refused(exec(&url, &format!("TRUNCATE TABLE {anchors}")).await);
    assert!(msg.contains("foreign key"), "{msg}");
}

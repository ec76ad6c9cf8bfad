//! An application user with the GRANTs the crate docs prescribe (INSERT and SELECT on the
//! events, nothing more) appends and reads, and cannot UPDATE, DELETE, TRUNCATE or purge.

use audit_core::AuditStore;
use audit_core::query::AuditQuery;
use audit_sqlx::{MySqlOptions, MySqlStore};

use crate::common::*;

/// Creates a user with the grants of the crate docs on `store`'s tables; returns its URL.
pub async fn app_user(url: &str, store: &MySqlStore) -> String {
    let db = store.database().expect("own database");
    let user = format!("app_{}", &db[db.len().saturating_sub(20)..]);
    let t = |suffix| table(store, suffix);
    exec(
        url,
        &format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY 'app-pw';
             GRANT SELECT, INSERT ON {} TO '{user}'@'%';
             GRANT SELECT, UPDATE ON {} TO '{user}'@'%';
             GRANT SELECT ON {} TO '{user}'@'%';
             GRANT SELECT ON {} TO '{user}'@'%';
             GRANT SELECT, INSERT, DELETE ON {} TO '{user}'@'%';
             GRANT INSERT ON {} TO '{user}'@'%';
             GRANT SELECT, INSERT ON {} TO '{user}'@'%';
             GRANT SELECT, INSERT ON {} TO '{user}'@'%';
             GRANT SELECT, UPDATE ON {} TO '{user}'@'%';",
            t("events"),
            t("chain_head"),
            t("anchors"),
            t("schema_migrations"),
            t("outbox"),
            t("outbox_rejected"),
            t("tree"),
            t("checkpoints"),
            t("tree_head"),
        ),
    )
    .await
    .expect("test setup");
    url_as(url, &user, "app-pw")
}

/// The store as the application user sees it.
pub async fn app_store(url: &str, owner: &MySqlStore) -> (MySqlStore, String) {
    let app_url = app_user(url, owner).await;
    let store = MySqlStore::connect_with(
        MySqlOptions::new(&app_url)
            .database(owner.database().expect("own database"))
            .expect("a valid name")
            .migrate(false),
    )
    .await
    .expect("the app user connects without migrating");
    (store, app_url)
}

fn denied(result: Result<u64, sqlx_core::Error>) -> String {
    match result {
        Ok(n) => panic!("the application user changed {n} rows"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn app_user_with_the_documented_grants_can_append_and_read() {
    let url = require_mysql!();
    let owner = store_with(&url, "approle", 3).await;
    let (app, _) = app_store(&url, &owner).await;
    app.append(&events(3..5)).await.unwrap();
    assert_eq!(app.count(&AuditQuery::new()).await.unwrap(), 5);
    assert!(
        app.verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn app_user_cannot_update_events() {
    let url = require_mysql!();
    let owner = store_with(&url, "appnoupdate", 3).await;
    let (_, app_url) = app_store(&url, &owner).await;
    let t = table(&owner, "events");
    let msg = denied(exec(&app_url, &format!("UPDATE {t} SET description = 'x'")).await);
    assert!(msg.contains("UPDATE command denied"), "{msg}");
}

#[tokio::test]
async fn app_user_cannot_delete_events() {
    let url = require_mysql!();
    let owner = store_with(&url, "appnodelete", 3).await;
    let (_, app_url) = app_store(&url, &owner).await;
    // The retention marker does not help without the privilege.
    let sql = format!(
        "SET @audit_sqlx_retention = 'on'; DELETE FROM {}",
        table(&owner, "events")
    );
    let msg = denied(exec(&app_url, &sql).await);
    assert!(msg.contains("DELETE command denied"), "{msg}");
    assert_eq!(owner.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn app_user_cannot_truncate_events() {
    let url = require_mysql!();
    let owner = store_with(&url, "appnotruncate", 3).await;
    let (_, app_url) = app_store(&url, &owner).await;
    let sql = format!(
        "SET foreign_key_checks = 0; TRUNCATE TABLE {}",
        table(&owner, "events")
    );
    let msg = denied(exec(&app_url, &sql).await);
    assert!(msg.contains("DROP command denied"), "{msg}");
    assert_eq!(owner.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn app_user_cannot_use_the_retention_path() {
    let url = require_mysql!();
    let owner = store_with(&url, "appnopurge", 3).await;
    let (app, _) = app_store(&url, &owner).await;
    let result = app
        .purge_before(chrono::Utc::now() + chrono::Duration::days(1))
        .await;
    assert!(result.is_err(), "the app user purged: {result:?}");
    assert_eq!(owner.count(&AuditQuery::new()).await.unwrap(), 3);
}

//! The events table refuses UPDATE, DELETE and TRUNCATE, even from the owner; an app role with
//! the documented grants can insert and read but not delete.

use crate::common::*;
use audit_core::AuditStore;
use audit_core::query::AuditQuery;
use audit_sqlx::{PgOptions, PgStore};

async fn store_with_rows(url: &str, tag: &str) -> PgStore {
    let store = fresh_store(url, tag).await;
    store.append(&events(0..3)).await.expect("test setup");
    store
}

fn refused(result: Result<u64, sqlx_core::Error>) -> String {
    match result {
        Ok(n) => panic!("statement succeeded ({n} rows) on an append-only table"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn update_is_refused() {
    let url = require_pg!();
    let store = store_with_rows(&url, "noupdate").await;
    let msg = refused(
        exec(
            &url,
            &format!(
                "UPDATE {}.audit_events SET description = 'x'",
                store.schema()
            ),
        )
        .await,
    );
    assert!(msg.contains("append-only"), "{msg}");
    assert_eq!(
        store
            .count(&AuditQuery::new().description_contains("x"))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn delete_is_refused() {
    let url = require_pg!();
    let store = store_with_rows(&url, "nodelete").await;
    let msg = refused(
        exec(
            &url,
            &format!("DELETE FROM {}.audit_events", store.schema()),
        )
        .await,
    );
    assert!(msg.contains("append-only"), "{msg}");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn truncate_is_refused() {
    let url = require_pg!();
    let store = store_with_rows(&url, "notruncate").await;
    let msg = refused(exec(&url, &format!("TRUNCATE {}.audit_events", store.schema())).await);
    assert!(msg.contains("append-only"), "{msg}");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn retention_anchors_refuse_update() {
    let url = require_pg!();
    let store = store_with_rows(&url, "anchorsro").await;
    store
        .purge_before(chrono::Utc::now() + chrono::Duration::days(1))
        .await
        .unwrap();
    let msg = refused(
        exec(
            &url,
            &format!("UPDATE {}.audit_anchors SET seq = 1", store.schema()),
        )
        .await,
    );
    assert!(msg.contains("append-only"), "{msg}");
}

/// Creates a login role with the grants the crate docs prescribe; returns its URL.
pub(crate) async fn app_role(url: &str, schema: &str) -> String {
    let role = format!("{schema}_app");
    exec(
        url,
        &format!(
            "CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA {schema} TO {role};
             REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role};
             GRANT SELECT, INSERT ON {schema}.audit_events TO {role};
             GRANT SELECT, UPDATE ON {schema}.audit_chain_head TO {role};
             GRANT SELECT ON {schema}.audit_anchors, {schema}.audit_schema_migrations TO {role};
             GRANT SELECT, INSERT ON {schema}.audit_tree, {schema}.audit_checkpoints TO {role};
             GRANT SELECT, INSERT, DELETE ON {schema}.audit_outbox TO {role};
             GRANT INSERT ON {schema}.audit_outbox_rejected TO {role};"
        ),
    )
    .await
    .expect("test setup");
    // Same server and database, other user.
    let rest = url.split_once('@').map(|(_, rest)| rest).unwrap_or(url);
    format!("postgres://{role}@{rest}")
}

#[tokio::test]
async fn app_role_with_documented_grants_can_append_and_read() {
    let url = require_pg!();
    let owner = store_with_rows(&url, "approle").await;
    let app_url = app_role(&url, owner.schema().as_str()).await;
    let app = PgStore::connect_with(
        PgOptions::new(app_url)
            .schema(owner.schema().as_str())
            .unwrap()
            .migrate(false),
    )
    .await
    .unwrap();
    app.append(&events(3..5)).await.unwrap();
    assert_eq!(app.count(&AuditQuery::new()).await.unwrap(), 5);
}

#[tokio::test]
async fn app_role_cannot_use_the_retention_path() {
    let url = require_pg!();
    let owner = store_with_rows(&url, "appnopurge").await;
    let app_url = app_role(&url, owner.schema().as_str()).await;
    let app = PgStore::connect_with(
        PgOptions::new(app_url)
            .schema(owner.schema().as_str())
            .unwrap()
            .migrate(false),
    )
    .await
    .unwrap();
    let result = app
        .purge_before(chrono::Utc::now() + chrono::Duration::days(1))
        .await;
    assert!(result.is_err(), "the app role purged: {result:?}");
    assert_eq!(owner.count(&AuditQuery::new()).await.unwrap(), 3);
}

/// A copy of record 3 with a new id, linked after it, at the seq the next write would take.
fn forged_copy_of_3(table: &str) -> String {
    format!(
        "INSERT INTO {table} SELECT 4, gen_random_uuid(), occurred_at, action, category, \
         outcome, reason, actor_kind, actor_id, entity_type, entity_id, description, ip, \
         user_agent, request_id, session_id, tenant, severity, metadata, hash, hash \
         FROM {table} WHERE seq = 3"
    )
}

#[tokio::test]
async fn the_app_role_cannot_insert_a_row_beyond_the_head() {
    let url = require_pg!();
    let owner = store_with_rows(&url, "appforged").await;
    let app_url = app_role(&url, owner.schema().as_str()).await;
    let t = format!("{}.audit_events", owner.schema());
    let err = exec(&app_url, &forged_copy_of_3(&t))
        .await
        .expect_err("a row beyond the head is refused");
    assert!(err.to_string().contains("through the chain head"), "{err}");
    assert!(
        owner
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
    let seqs: Vec<u64> = owner
        .append(&events(3..5))
        .await
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(seqs, vec![4, 5]);
}

#[tokio::test]
async fn a_row_the_owner_forges_beyond_the_head_is_reported_and_writers_go_on() {
    let url = require_pg!();
    let owner = store_with_rows(&url, "ownerforged").await;
    let t = format!("{}.audit_events", owner.schema());
    // Only the owner can switch the trigger off (and triggers are not what stops an owner:
    // the chain, an HMAC key and checkpoints kept elsewhere are).
    exec(
        &url,
        &format!(
            "BEGIN; ALTER TABLE {t} DISABLE TRIGGER audit_events_within_head; {}; \
             ALTER TABLE {t} ENABLE TRIGGER audit_events_within_head; COMMIT",
            forged_copy_of_3(&t)
        ),
    )
    .await
    .expect("the owner may");
    let fault = |report: audit_core::chain::VerifyReport| report.fault.map(|f| f.seq);
    let report = owner.verify(Default::default(), None).await.unwrap();
    assert_eq!(fault(report), Some(4));

    // The writer meets the foreign row at the next seq: it does not stop, it continues after it.
    let positions = owner.append(&events(3..5)).await.unwrap();
    let seqs: Vec<u64> = positions.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, vec![5, 6]);
    let report = owner.verify(Default::default(), None).await.unwrap();
    assert_eq!(fault(report), Some(4));
}

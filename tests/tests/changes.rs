//! Before/after change sets through the default pipeline into real stores: a changed secret
//! is redacted on both sides by the same rule as anywhere in the metadata, the paths are kept,
//! and the chain verifies (the change set is metadata, covered by canonical encoding v1).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::diff::Changes;
use audit_core::query::AuditQuery;
use audit_core::redact::REDACTED;
use audit_core::{AuditEvent, AuditSink, AuditStore, ChainHasher};
use audit_integration_tests::{database_url, fresh_mysql, fresh_pg, fresh_sqlite, mysql_url};
use audit_pipeline::Auditor;
use serde_json::json;

/// A second change set (a name changed) and an event without one.
async fn auditor_free_write(store: &impl AuditSink) {
    let renamed = Changes::between(&json!({"name": "A"}), &json!({"name": "B"}));
    store
        .write(&[
            AuditEvent::builder("USER_RENAMED")
                .changes(&renamed)
                .build(),
            AuditEvent::builder("USER_VIEWED")
                .metadata_entry("note", "/password")
                .build(),
        ])
        .await
        .unwrap();
}

async fn a_changed_secret_is_redacted_on_both_sides<S>(store: S)
where
    S: AuditSink + AuditStore + Clone,
{
    let before = json!({"email": "a@example.com", "password": "old-secret", "roles": ["agent"]});
    let after =
        json!({"email": "b@example.com", "password": "new-secret", "roles": ["agent", "admin"]});
    let changes = Changes::between(&before, &after);
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    auditor.record(
        AuditEvent::builder("USER_UPDATED")
            .entity("user", "u-1")
            .changes(&changes)
            .build(),
    );
    auditor.shutdown().await.unwrap();

    let page = store
        .query(&AuditQuery::new().action("USER_UPDATED"))
        .await
        .unwrap();
    let stored = &page.events[0].event.metadata["changes"];
    assert_eq!(stored["changed"], json!(["/email", "/password"]));
    assert_eq!(stored["added"], json!(["/roles/1"]));
    assert_eq!(stored["old"]["email"], "a@example.com");
    assert_eq!(stored["new"]["email"], "b@example.com");
    assert_eq!(stored["old"]["password"], REDACTED);
    assert_eq!(stored["new"]["password"], REDACTED);
    assert_eq!(stored["new"]["roles"]["1"], "admin");
    // Events that changed a field are found by it, in every store; others are not.
    auditor_free_write(&store).await;
    for (path, want) in [
        ("/password", 1),
        ("/roles/1", 1),
        ("/roles/0", 0),
        ("/name", 1),
    ] {
        let q = AuditQuery::new().changed(path);
        assert_eq!(store.count(&q).await.unwrap(), want, "{path}");
        let found = store.query(&q).await.unwrap().events;
        assert!(found.iter().all(|r| q.matches(r)), "{path}");
    }
    let text = serde_json::to_string(stored).unwrap();
    assert!(!text.contains("secret"), "{text}");
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sqlite() {
    let (store, _dir) = fresh_sqlite();
    a_changed_secret_is_redacted_on_both_sides(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_postgres() {
    let Some(url) = database_url() else { return };
    a_changed_secret_is_redacted_on_both_sides(
        fresh_pg(&url, "changes", ChainHasher::sha256()).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_mysql() {
    let Some(url) = mysql_url() else { return };
    a_changed_secret_is_redacted_on_both_sides(
        fresh_mysql(&url, "changes", ChainHasher::sha256()).await,
    )
    .await;
}

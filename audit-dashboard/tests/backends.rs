//! One dashboard, three stores: the same events in the memory store, a SQLite file and a
//! PostgreSQL server show the same rows, export the same bytes and verify alike.

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use audit_core::sinks::MemorySink;
use audit_core::{Actor, AuditEvent, AuditSink, AuditStore};
use audit_integration_tests::{database_url, fresh_pg};
use audit_pipeline::Auditor;
use support::get;

fn events() -> Vec<AuditEvent> {
    (0..90)
        .map(|i| {
            let b = AuditEvent::builder(["FTMS_BOOKING_CREATED", "authz_fail"][i % 2])
                .actor(Actor::user(["alice", "bob", "carol"][i % 3]))
                .entity("booking", format!("b-{i}"))
                .ip(std::net::IpAddr::from([10, 0, 0, i as u8]))
                .description(format!("réservation {i} — <b>{i}</b>"));
            if i % 4 == 0 { b.denied("no") } else { b }.build()
        })
        .collect()
}

/// What a viewer sees of `store`: a filtered page, a JSON Lines export, an event page.
async fn seen(store: Arc<dyn AuditStore>) -> Vec<String> {
    // Recording goes elsewhere, so the three logs stay identical while they are viewed.
    let app = support::app(store, Auditor::builder(MemorySink::new()).build().unwrap());
    let mut pages = Vec::new();
    for uri in [
        "/admin/audit/events?actor=alice&outcome=denied&limit=5",
        "/admin/audit/events?ip=10.0.0.0/28&order=oldest",
        "/admin/audit/export?format=jsonl&action=authz_fail",
        "/admin/audit/export?format=csv",
        "/admin/audit/events/42",
        "/admin/audit/entity?type=booking&id=b-7",
    ] {
        let (status, _, body) = get(&app, Some("admin"), uri).await;
        assert_eq!(status, 200, "{uri}");
        pages.push(body);
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_sqlite_and_postgres_look_the_same_in_the_dashboard() {
    let events = events();
    let memory = MemorySink::new();
    memory.write(&events).await.unwrap();
    let reference = seen(Arc::new(memory)).await;
    assert!(reference[0].contains("<tr class=\"event\">"));

    let dir = tempfile::tempdir().unwrap();
    let sqlite = audit_sqlite::SqliteStore::open(dir.path().join("audit.db")).unwrap();
    sqlite.append(&events).await.unwrap();
    assert_eq!(seen(Arc::new(sqlite)).await, reference, "SQLite");

    if let Some(url) = database_url() {
        let pg = fresh_pg(&url, "dash", Default::default()).await;
        pg.append(&events).await.unwrap();
        assert_eq!(seen(Arc::new(pg.clone())).await, reference, "PostgreSQL");
        pg.close().await;
    }
}

//! The store behind audit-core's `Auditor` pipeline.

mod common;

use audit_core::{Actor, AuditEvent, AuditQuery, AuditStore, Auditor};
use common::fresh_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_durable_returns_the_stored_position() {
    let (store, _dir) = fresh_store();
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    let receipt = auditor
        .record_durable(
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .actor(Actor::user("alice"))
                .build(),
        )
        .await
        .unwrap();
    let position = receipt.position.expect("a chained position");
    let stored = store.get(position.seq).await.unwrap().unwrap();
    assert_eq!((stored.event.id, stored.hash), (receipt.id, position.hash));
    auditor.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_event_is_stored_in_one_valid_chain_after_shutdown() {
    let (store, _dir) = fresh_store();
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    for i in 0..500 {
        auditor.record(
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .entity("booking", format!("b-{i}"))
                .build(),
        );
    }
    auditor.shutdown().await.unwrap();
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 500);
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
}

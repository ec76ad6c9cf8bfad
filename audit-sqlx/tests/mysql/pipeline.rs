//! MySqlStore behind the audit-core Auditor pipeline: durable receipts carry chain positions.

use audit_core::query::AuditQuery;
use audit_core::{AuditStore, Auditor, ChainHasher};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_record_through_the_auditor_returns_the_stored_position() {
    let url = require_mysql!();
    let store = fresh_store(&url, "pipeline").await;
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    let event = event(4);
    let receipt = auditor.record_durable(event.clone()).await.unwrap();
    let position = receipt.position.expect("MySqlStore keeps a chain");
    let stored = store.get(position.seq).await.unwrap().unwrap();
    assert_eq!(stored.hash, position.hash);
    assert_eq!(stored.event.id, event.id);
    auditor.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_without_waiting_are_all_stored_after_shutdown() {
    let url = require_mysql!();
    let store = fresh_store(&url, "pipelinebulk").await;
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    for e in events(0..500) {
        auditor.record(e);
    }
    auditor.shutdown().await.unwrap();
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 500);
    assert_chain_links(&all_records(&store).await, &ChainHasher::sha256());
}

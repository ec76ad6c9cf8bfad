//! PgStore behind the audit-core Auditor pipeline: durable receipts carry chain positions.
#![cfg(feature = "postgres")]

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_record_through_the_auditor_returns_the_stored_position() {
    let url = require_pg!();
    check_durable_receipt_is_the_stored_position(fresh_store(&url, "pipeline").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_without_waiting_are_all_stored_after_shutdown() {
    let url = require_pg!();
    check_recorded_events_are_stored_after_shutdown(fresh_store(&url, "pipelinebulk").await).await;
}

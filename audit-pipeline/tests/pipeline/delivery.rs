//! Batching, durable receipts, flush, shutdown and the drop guard.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::support::{GatedSink, actions, expected_actions, numbered, wait_until};
use audit_core::AuditEvent;
use audit_core::sinks::MemorySink;
use audit_pipeline::Auditor;
use audit_pipeline::RecordError;

#[test]
fn batches_fill_up_to_the_max_batch_size() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .max_batch_size(5)
        .max_linger(Duration::from_secs(3600))
        .build()
        .unwrap();
    for event in numbered(10) {
        auditor.record(event);
    }
    wait_until("two batches", || sink.len() == 10);
    assert_eq!(sink.batch_sizes(), [5, 5]);
    auditor.shutdown_blocking().unwrap();
}

#[test]
fn flush_writes_a_partial_batch_without_waiting_for_the_linger() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .max_batch_size(100)
        .max_linger(Duration::from_secs(3600))
        .build()
        .unwrap();
    for event in numbered(3) {
        auditor.record(event);
    }
    auditor.flush_blocking().unwrap();
    assert_eq!(sink.batch_sizes(), [3]);
    assert_eq!(actions(&sink), expected_actions(3));
}

#[test]
fn events_queued_while_the_sink_is_busy_are_written_together() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    auditor.record(AuditEvent::builder("FIRST").build());
    wait_until("first write started", || sink.writes_started() == 1);
    for event in numbered(4) {
        auditor.record(event);
    }
    sink.open();
    auditor.flush_blocking().unwrap();
    assert_eq!(sink.inner.batch_sizes(), [1, 4]);
}

#[tokio::test]
async fn record_durable_resolves_only_after_the_sink_committed() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    let durable = {
        let auditor = auditor.clone();
        tokio::spawn(async move {
            auditor
                .record_durable(AuditEvent::builder("PAYMENT_CAPTURED").build())
                .await
        })
    };
    tokio::task::spawn_blocking({
        let sink = sink.clone();
        move || wait_until("write started", || sink.writes_started() == 1)
    })
    .await
    .unwrap();
    // The write is held at the gate, so the event is not committed yet.
    assert!(!durable.is_finished());
    assert!(sink.inner.is_empty());
    sink.open();
    let receipt = durable.await.unwrap().unwrap();
    let stored = sink.inner.records();
    assert_eq!(stored.len(), 1);
    assert_eq!(receipt.id, stored[0].event.id);
    let position = receipt.position.unwrap();
    assert_eq!(
        (position.seq, position.hash),
        (stored[0].seq, stored[0].hash)
    );
    auditor.shutdown().await.unwrap();
}

#[test]
fn shutdown_drains_everything_queued() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .max_batch_size(7)
        .build()
        .unwrap();
    for event in numbered(50) {
        auditor.record(event);
    }
    sink.open();
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(50));
    let metrics = auditor.metrics();
    assert_eq!(
        (metrics.enqueued, metrics.written, metrics.queued),
        (50, 50, 0)
    );
}

#[test]
fn events_recorded_after_shutdown_are_counted_as_dropped() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    auditor.shutdown_blocking().unwrap();
    auditor.record(AuditEvent::builder("LATE").build());
    assert!(auditor.is_shut_down());
    assert_eq!(auditor.metrics().dropped, 1);
    assert!(sink.is_empty());
    assert_eq!(
        auditor.record_durable_blocking(AuditEvent::builder("LATE").build()),
        Err(RecordError::Closed)
    );
}

#[test]
fn the_guard_drains_the_queue_when_dropped() {
    let sink = GatedSink::closed();
    {
        let auditor = Auditor::builder(sink.clone()).build().unwrap();
        let _guard = auditor.guard();
        for event in numbered(20) {
            auditor.record(event);
        }
        sink.open();
    }
    assert_eq!(actions(&sink.inner), expected_actions(20));
}

#[test]
fn dropping_every_handle_still_drains_the_queue() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    for event in numbered(5) {
        auditor.record(event);
    }
    drop(auditor);
    sink.open();
    wait_until("drained by the worker", || sink.inner.len() == 5);
    assert_eq!(actions(&sink.inner), expected_actions(5));
}

#[test]
fn metrics_count_what_was_enqueued_and_written() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink).build().unwrap();
    for event in numbered(7) {
        auditor.record(event);
    }
    auditor.flush_blocking().unwrap();
    let m = auditor.metrics();
    assert_eq!((m.enqueued, m.written, m.dropped, m.failed), (7, 7, 0, 0));
}

#[test]
fn an_unbounded_linger_waits_for_a_full_batch_or_a_flush_without_failing() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .max_batch_size(2)
        .max_linger(Duration::MAX)
        .build()
        .unwrap();
    for event in numbered(3) {
        auditor.record(event);
    }
    wait_until("the first full batch", || sink.len() == 2);
    auditor.flush_blocking().unwrap();
    assert_eq!(sink.batch_sizes(), [2, 1]);
    assert_eq!(actions(&sink), expected_actions(3));
}

//! The pipeline from plain synchronous code and from both tokio flavours, without deadlock.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use crate::support::{actions, expected_actions, numbered};
use audit_core::AuditEvent;
use audit_core::sinks::MemorySink;
use audit_pipeline::Auditor;

#[test]
fn works_from_sync_code_without_any_runtime() {
    assert!(tokio::runtime::Handle::try_current().is_err());
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    for event in numbered(5) {
        auditor.record(event);
    }
    let receipt = auditor
        .record_durable_blocking(AuditEvent::builder("E5").build())
        .unwrap();
    assert_eq!(receipt.position.unwrap().seq, 6);
    auditor.flush_blocking().unwrap();
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink), expected_actions(6));
}

async fn exercise(auditor: &Auditor) {
    for event in numbered(3) {
        auditor.record(event);
    }
    auditor
        .record_async(AuditEvent::builder("E3").build())
        .await;
    let receipt = auditor
        .record_durable(AuditEvent::builder("E4").build())
        .await
        .unwrap();
    assert_eq!(receipt.position.unwrap().seq, 5);
    auditor.flush().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn works_inside_a_current_thread_runtime() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    exercise(&auditor).await;
    // Blocking calls on the runtime's only thread: the worker does not need this runtime.
    auditor.record(AuditEvent::builder("E5").build());
    auditor.flush_blocking().unwrap();
    auditor
        .record_durable_blocking(AuditEvent::builder("E6").build())
        .unwrap();
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink), expected_actions(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_multi_thread_runtime() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    exercise(&auditor).await;
    let from_blocking = tokio::task::spawn_blocking({
        let auditor = auditor.clone();
        move || {
            auditor.record(AuditEvent::builder("E5").build());
            auditor.flush_blocking()
        }
    });
    from_blocking.await.unwrap().unwrap();
    auditor.shutdown().await.unwrap();
    assert_eq!(actions(&sink), expected_actions(6));
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_guard_inside_a_current_thread_runtime_drains_without_deadlock() {
    let sink = MemorySink::new();
    {
        let auditor = Auditor::builder(sink.clone()).build().unwrap();
        let _guard = auditor.guard();
        for event in numbered(4) {
            auditor.record(event);
        }
    }
    assert_eq!(actions(&sink), expected_actions(4));
}

#[test]
fn a_runtime_built_and_dropped_around_the_auditor_does_not_affect_it() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async { auditor.record(AuditEvent::builder("E0").build()) });
    auditor.record(AuditEvent::builder("E1").build());
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink), expected_actions(2));
}

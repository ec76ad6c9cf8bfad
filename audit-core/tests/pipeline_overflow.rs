//! Each overflow policy under a sink slower than the producers.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod pipeline_support;

use std::sync::{Arc, Mutex};

use audit_core::pipeline::{OverflowPolicy, PipelineError};
use audit_core::{AuditEvent, Auditor};
use pipeline_support::{GatedSink, actions, expected_actions, numbered, spool_files, wait_until};

#[test]
fn block_makes_a_thread_wait_for_room_and_loses_nothing() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(1)
        .overflow(OverflowPolicy::Block)
        .build()
        .unwrap();
    let producer = std::thread::spawn({
        let auditor = auditor.clone();
        move || numbered(10).into_iter().for_each(|e| auditor.record(e))
    });
    // One event is held in the sink's write and two fill the queue: the producer waits.
    wait_until("a write in progress and a full queue", || {
        sink.writes_started() == 1 && auditor.metrics().queued == 2
    });
    assert!(!producer.is_finished());
    assert_eq!(auditor.metrics().enqueued, 3);
    sink.open();
    producer.join().unwrap();
    auditor.flush_blocking().unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(10));
    let m = auditor.metrics();
    assert_eq!((m.dropped, m.over_capacity, m.written), (0, 0, 10));
}

#[test]
fn drop_newest_discards_and_counts_what_does_not_fit() {
    let sink = GatedSink::closed();
    let errors = Arc::new(Mutex::new(0));
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(1)
        .overflow(OverflowPolicy::DropNewest)
        .on_error({
            let errors = Arc::clone(&errors);
            move |e| {
                if matches!(e, PipelineError::QueueFull) {
                    *errors.lock().unwrap() += 1;
                }
            }
        })
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("E0").build());
    wait_until("the first write", || sink.writes_started() == 1);
    for event in numbered(10).into_iter().skip(1) {
        auditor.record(event);
    }
    sink.open();
    auditor.flush_blocking().unwrap();
    let m = auditor.metrics();
    // One event in the write, two in the queue; the other seven were dropped, never blocked.
    assert_eq!((m.written, m.dropped), (3, 7));
    assert_eq!(*errors.lock().unwrap(), 7);
    assert_eq!(actions(&sink.inner), ["E0", "E1", "E2"]);
}

#[test]
fn spool_overflow_spills_to_disk_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(1)
        .overflow(OverflowPolicy::Spool)
        .spool_dir(dir.path())
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("E0").build());
    wait_until("the first write", || sink.writes_started() == 1);
    for event in numbered(30).into_iter().skip(1) {
        auditor.record(event);
    }
    let m = auditor.metrics();
    assert_eq!((m.enqueued, m.dropped), (30, 0));
    assert!(m.spooled >= 27, "spilled to the lane: {m:?}");
    sink.open();
    auditor.flush_blocking().unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(30));
    // The lane is removed once drained.
    let leftovers = spool_files(dir.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn spool_overflow_needs_a_spool_directory() {
    let sink = GatedSink::closed();
    let built = Auditor::builder(sink)
        .overflow(OverflowPolicy::Spool)
        .build();
    assert!(built.is_err());
}

#[test]
fn spilled_events_are_redacted_before_they_reach_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(1)
        .max_batch_size(1)
        .overflow(OverflowPolicy::Spool)
        .spool_dir(dir.path())
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("E0").build());
    wait_until("the first write", || sink.writes_started() == 1);
    auditor.record(AuditEvent::builder("E1").build());
    auditor.record(
        AuditEvent::builder("E2")
            .metadata_entry("password", "hunter2")
            .build(),
    );
    let on_disk: String = spool_files(dir.path())
        .into_iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(on_disk.contains("E2"), "the event was spilled: {on_disk}");
    assert!(!on_disk.contains("hunter2"));
    sink.open();
    auditor.shutdown_blocking().unwrap();
    assert_eq!(sink.inner.events()[2].metadata["password"], "[REDACTED]");
}

#[tokio::test(flavor = "current_thread")]
async fn block_never_blocks_an_async_executor_and_counts_the_excess() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(1)
        .build()
        .unwrap();
    // With the sink held shut, a blocking `record` would hang this single-threaded runtime.
    for event in numbered(10) {
        auditor.record(event);
    }
    let m = auditor.metrics();
    assert_eq!((m.enqueued, m.dropped), (10, 0));
    assert!(m.over_capacity >= 7, "{m:?}");
    sink.open();
    auditor.flush().await.unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(10));
}

#[tokio::test(flavor = "current_thread")]
async fn record_async_waits_for_room_without_blocking_the_executor() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(1)
        .build()
        .unwrap();
    let producer = tokio::spawn({
        let auditor = auditor.clone();
        async move {
            for event in numbered(10) {
                auditor.record_async(event).await;
            }
        }
    });
    // This runtime has one thread: the test keeps running while the producer waits.
    while auditor.metrics().queued < 2 {
        tokio::task::yield_now().await;
    }
    assert!(!producer.is_finished());
    assert_eq!(auditor.metrics().over_capacity, 0);
    sink.open();
    producer.await.unwrap();
    auditor.flush().await.unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(10));
    assert_eq!(auditor.metrics().over_capacity, 0);
}

#[test]
fn an_error_hook_that_records_neither_deadlocks_nor_recurses() {
    let sink = GatedSink::closed();
    let slot: Arc<std::sync::OnceLock<audit_core::Auditor>> = Arc::default();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(1)
        .max_batch_size(1)
        .overflow(OverflowPolicy::DropNewest)
        .on_error({
            let slot = Arc::clone(&slot);
            move |_| {
                if let Some(auditor) = slot.get() {
                    auditor.record(AuditEvent::builder("HOOK_SAW_A_DROP").build());
                }
            }
        })
        .build()
        .unwrap();
    slot.set(auditor.clone()).unwrap();
    auditor.record(AuditEvent::builder("E0").build());
    wait_until("the first write", || sink.writes_started() == 1);
    auditor.record(AuditEvent::builder("E1").build());
    // Dropped; the hook's own event is dropped too, and reported without calling the hook.
    auditor.record(AuditEvent::builder("E2").build());
    assert_eq!(auditor.metrics().dropped, 2);
    sink.open();
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink.inner), ["E0", "E1"]);
}

#[test]
fn block_with_many_producers_and_a_slow_sink_keeps_every_event_in_each_producers_order() {
    let sink = audit_core::sinks::MemorySink::new();
    sink.set_write_delay(std::time::Duration::from_millis(1));
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(8)
        .max_batch_size(4)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for producer in 0..4 {
            let auditor = auditor.clone();
            s.spawn(move || {
                for i in 0..100 {
                    auditor.record(
                        AuditEvent::builder(format!("P{producer}"))
                            .metadata_entry("i", i)
                            .build(),
                    );
                }
            });
        }
    });
    auditor.shutdown_blocking().unwrap();
    let events = sink.events();
    assert_eq!(events.len(), 400);
    for producer in 0..4 {
        let order: Vec<_> = events
            .iter()
            .filter(|e| e.action == format!("P{producer}"))
            .map(|e| e.metadata["i"].as_u64().unwrap())
            .collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }
    let m = auditor.metrics();
    assert_eq!((m.dropped, m.over_capacity), (0, 0));
}

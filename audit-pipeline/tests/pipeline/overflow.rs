//! Each overflow policy under a sink slower than the producers.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{
    GatedSink, actions, expected_actions, hide_lane, numbered, record_behind_a_held_write,
    spool_error_counter, spool_files, spooling, wait_until,
};
use audit_core::AuditEvent;
use audit_pipeline::Auditor;
use audit_pipeline::{OverflowPolicy, PipelineError, RetryPolicy};

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
    let auditor = spooling(&sink, dir.path(), 2, 1).build().unwrap();
    record_behind_a_held_write(&auditor, &sink, numbered(30).into_iter().skip(1));
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
    let auditor = spooling(&sink, dir.path(), 1, 1).build().unwrap();
    record_behind_a_held_write(&auditor, &sink, [AuditEvent::builder("E1").build()]);
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
async fn block_in_a_current_thread_runtime_drops_past_max_overflow_without_a_spool() {
    let sink = GatedSink::closed();
    let drops = Arc::new(Mutex::new(0));
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(1)
        .on_error({
            let drops = Arc::clone(&drops);
            move |e| {
                if matches!(e, PipelineError::QueueFull) {
                    *drops.lock().unwrap() += 1;
                }
            }
        })
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("E0").build());
    wait_until("the first write", || sink.writes_started() == 1);
    // With the sink held shut, a blocking `record` would hang this single-threaded runtime.
    for event in numbered(20).into_iter().skip(1) {
        auditor.record(event);
    }
    let m = auditor.metrics();
    // Two fit the queue, two more (max_overflow defaults to the capacity) go past it, and
    // with no spool directory the other fifteen are dropped and reported.
    assert_eq!(m.queued, 4, "{m:?}");
    assert_eq!((m.enqueued, m.over_capacity, m.dropped), (5, 2, 15));
    assert_eq!(*drops.lock().unwrap(), 15);
    sink.open();
    auditor.flush().await.unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(5));
}

#[tokio::test(flavor = "current_thread")]
async fn block_in_a_current_thread_runtime_spills_past_max_overflow_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_overflow(3)
        .max_batch_size(1)
        .spool_dir(dir.path())
        .build()
        .unwrap();
    let mut most_queued = 0;
    for event in numbered(40) {
        auditor.record(event);
        most_queued = most_queued.max(auditor.metrics().queued);
    }
    let m = auditor.metrics();
    assert!(most_queued <= 2 + 3, "the queue grew to {most_queued}");
    assert_eq!((m.enqueued, m.dropped), (40, 0));
    // At most one event is in the sink's write and five in the queue: the rest spilled.
    assert!(m.spooled >= 34, "{m:?}");
    assert!(!spool_files(dir.path()).is_empty());
    sink.open();
    auditor.flush().await.unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(40));
    let leftovers = spool_files(dir.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_in_a_multi_thread_runtime_waits_in_place_and_keeps_the_queue_bounded() {
    let (sink, auditor) = slow_sink_auditor(4, 2);
    let producers: Vec<_> = (0..4)
        .map(|producer| {
            let auditor = auditor.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    auditor.record(
                        AuditEvent::builder(format!("P{producer}"))
                            .metadata_entry("i", i)
                            .build(),
                    );
                }
            })
        })
        .collect();
    let mut most_queued = 0;
    while !producers.iter().all(|p| p.is_finished()) {
        most_queued = most_queued.max(auditor.metrics().queued);
        tokio::task::yield_now().await;
    }
    for producer in producers {
        producer.await.unwrap();
    }
    auditor.shutdown().await.unwrap();
    let m = auditor.metrics();
    assert!(most_queued <= 4, "the queue grew to {most_queued}");
    assert_eq!((m.over_capacity, m.dropped, m.written), (0, 0, 400));
    let events = sink.events();
    assert_each_producer_in_order(&events, 4, 100);
}

/// A sink whose writes need a task on the recording code's own runtime.
#[derive(Clone)]
struct OnCallersRuntime {
    inner: audit_core::sinks::MemorySink,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl audit_core::AuditSink for OnCallersRuntime {
    async fn write(
        &self,
        batch: &[AuditEvent],
    ) -> Result<audit_core::BatchAck, audit_core::SinkError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.runtime.spawn(async move {
            tokio::task::yield_now().await;
            let _ = tx.send(());
        });
        let _ = rx.await;
        self.inner.write(batch).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn block_in_a_multi_thread_runtime_lets_a_sink_on_that_runtime_progress() {
    let sink = OnCallersRuntime {
        inner: audit_core::sinks::MemorySink::new(),
        runtime: tokio::runtime::Handle::current(),
    };
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(1)
        .build()
        .unwrap();
    // The producer runs on the runtime's only worker and waits there for room, which takes
    // writes that need that runtime to run another task.
    tokio::spawn({
        let auditor = auditor.clone();
        async move { numbered(50).into_iter().for_each(|e| auditor.record(e)) }
    })
    .await
    .unwrap();
    auditor.flush().await.unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(50));
    let m = auditor.metrics();
    assert_eq!((m.over_capacity, m.dropped), (0, 0));
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
    let slot: Arc<std::sync::OnceLock<audit_pipeline::Auditor>> = Arc::default();
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
    let (sink, auditor) = slow_sink_auditor(8, 4);
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
    assert_each_producer_in_order(&events, 4, 100);
    let m = auditor.metrics();
    assert_eq!((m.dropped, m.over_capacity), (0, 0));
}

#[test]
fn a_flood_spilled_to_the_lane_arrives_whole_in_order_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GatedSink::closed();
    let auditor = spooling(&sink, dir.path(), 4, 16).build().unwrap();
    let n = 5_000;
    record_behind_a_held_write(&auditor, &sink, numbered(n).into_iter().skip(1));
    assert!(auditor.metrics().spooled >= n as u64 - 5);
    sink.open();
    auditor.flush_blocking().unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(n));
    let leftovers = spool_files(dir.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_lane_that_cannot_be_read_for_a_while_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GatedSink::closed();
    let (spool_errors, hook) = spool_error_counter();
    let auditor = spooling(&sink, dir.path(), 2, 1)
        .retry(
            RetryPolicy::default()
                .max_attempts(1_000)
                .initial_backoff(Duration::from_millis(2))
                .max_backoff(Duration::from_millis(10)),
        )
        .on_error(hook)
        .build()
        .unwrap();
    record_behind_a_held_write(&auditor, &sink, numbered(30).into_iter().skip(1));
    // The lane file goes missing for a while (a transient read error).
    let (lane, away) = hide_lane(dir.path());
    sink.open();
    wait_until("a failed lane read", || {
        spool_errors.load(std::sync::atomic::Ordering::SeqCst) >= 2
    });
    std::fs::rename(&away, &lane).unwrap();
    auditor.flush_blocking().unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(30));
    let leftovers = spool_files(dir.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A sink taking 1 ms per write, behind a Block auditor with this queue and batch size.
fn slow_sink_auditor(capacity: usize, batch: usize) -> (audit_core::sinks::MemorySink, Auditor) {
    let sink = audit_core::sinks::MemorySink::new();
    sink.set_write_delay(Duration::from_millis(1));
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(capacity)
        .max_batch_size(batch)
        .build()
        .expect("auditor");
    (sink, auditor)
}

/// Each of `producers` producers' `P<n>` events arrived, all `per_producer` of them, in the
/// order it recorded them (metadata `i`).
fn assert_each_producer_in_order(events: &[AuditEvent], producers: usize, per_producer: u64) {
    for producer in 0..producers {
        let order: Vec<_> = events
            .iter()
            .filter(|e| e.action == format!("P{producer}"))
            .map(|e| e.metadata["i"].as_u64().expect("a counter"))
            .collect();
        assert_eq!(
            order,
            (0..per_producer).collect::<Vec<_>>(),
            "producer {producer}"
        );
    }
}

//! A producer waiting for room in the global auditor's full queue holds nothing that other
//! recording needs. Its own test binary: it installs the global default.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod pipeline_support;

use std::sync::mpsc;
use std::time::Duration;

use audit_core::AuditEvent;
use audit_core::sinks::MemorySink;
use audit_pipeline::Auditor;
use audit_pipeline::OverflowPolicy;
use pipeline_support::{GatedSink, wait_until};

#[test]
fn a_producer_blocked_on_the_full_global_queue_does_not_hold_up_other_recording() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(1)
        .max_batch_size(1)
        .overflow(OverflowPolicy::Block)
        .build()
        .unwrap();
    auditor.set_global_default().unwrap();
    // One event held in the sink's write, one in the queue; the third waits for room.
    let producer = std::thread::spawn(|| {
        for i in 0..3 {
            audit_core::record(AuditEvent::builder(format!("E{i}")).build());
        }
    });
    wait_until("a write in progress and a full queue", || {
        sink.writes_started() == 1 && auditor.metrics().queued == 1
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(!producer.is_finished(), "the producer waits for room");

    // Meanwhile, looking up the global default and recording into a scope elsewhere (as
    // the worker's error hook or an observer might) must not wait for that producer.
    let (done_tx, done_rx) = mpsc::channel();
    let other = std::thread::spawn(move || {
        assert!(audit_core::dispatch::global_default().is_some());
        let scoped = Auditor::builder(MemorySink::new()).build().unwrap();
        scoped.sync_scope(|| audit_core::record(AuditEvent::builder("ELSEWHERE").build()));
        scoped.shutdown_blocking().unwrap();
        done_tx.send(()).unwrap();
    });
    let finished = done_rx.recv_timeout(Duration::from_secs(5)).is_ok();
    sink.open();
    producer.join().unwrap();
    other.join().unwrap();
    assert!(
        finished,
        "recording elsewhere waited for a producer blocked on a full queue"
    );
    auditor.flush_blocking().unwrap();
    assert_eq!(sink.inner.len(), 3);
}

//! `audit_core::record` must not hold the global auditor's lock while it waits for room in a
//! full queue. Its own test binary: it changes global state.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod pipeline_support;

use std::sync::mpsc;
use std::time::Duration;

use audit_core::pipeline::OverflowPolicy;
use audit_core::sinks::MemorySink;
use audit_core::{AuditEvent, Auditor};
use pipeline_support::{GatedSink, wait_until};

#[test]
fn a_producer_blocked_on_a_full_queue_does_not_block_set_global() {
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(1)
        .max_batch_size(1)
        .overflow(OverflowPolicy::Block)
        .build()
        .unwrap();
    audit_core::set_global(auditor.clone());
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

    // Replacing the global auditor meanwhile must not wait for that producer: with a
    // writer waiting, readers queue up behind it, and the worker itself may need to read
    // the global (an error hook or an observer that records) to make room.
    let (done_tx, done_rx) = mpsc::channel();
    let replacer = std::thread::spawn(move || {
        audit_core::set_global(Auditor::builder(MemorySink::new()).build().unwrap());
        done_tx.send(()).unwrap();
    });
    let replaced = done_rx.recv_timeout(Duration::from_secs(5)).is_ok();
    sink.open();
    producer.join().unwrap();
    replacer.join().unwrap();
    assert!(
        replaced,
        "set_global waited for a producer blocked on a full queue"
    );
    auditor.flush_blocking().unwrap();
    assert_eq!(sink.inner.len(), 3);
}

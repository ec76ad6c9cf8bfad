//! What `#[audited]` records through a real pipeline: the worker adds `duration_us` to the
//! metadata, whichever way the event travels (queue, overflow lane).

use std::time::Duration;

use audit_core::sinks::MemorySink;
use audit_core::{AuditEvent, audited};
use audit_pipeline::Auditor;
use audit_pipeline::OverflowPolicy;

#[audited("FTMS_BOOKING_CREATED", entity_type = "booking", entity_id = id, metadata(seats = seats))]
fn create_booking(id: u64, seats: u32, pause: Duration) -> Result<u64, String> {
    std::thread::sleep(pause);
    Ok(id)
}

fn duration_us(event: &AuditEvent) -> u64 {
    event.metadata["duration_us"]
        .as_u64()
        .unwrap_or_else(|| panic!("no duration_us in {}", event.metadata))
}

#[test]
fn the_worker_adds_the_call_duration_next_to_the_caller_metadata() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().expect("auditor");
    auditor.sync_scope(|| create_booking(7, 2, Duration::from_millis(3)).expect("booked"));
    auditor.shutdown_blocking().expect("shutdown");

    let events = sink.events();
    assert_eq!(events.len(), 1);
    assert!(duration_us(&events[0]) >= 3_000, "{}", events[0].metadata);
    assert_eq!(events[0].metadata["seats"], 2);
    assert_eq!(events[0].entity_id.as_deref(), Some("7"));
}

#[test]
fn events_spilled_to_the_overflow_lane_keep_their_duration() {
    let spool = tempfile::tempdir().expect("temp dir");
    let sink = MemorySink::new();
    sink.set_write_delay(Duration::from_millis(20));
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(2)
        .max_batch_size(2)
        .overflow(OverflowPolicy::Spool)
        .spool_dir(spool.path())
        .build()
        .expect("auditor");
    auditor.sync_scope(|| {
        for id in 0..40 {
            create_booking(id, 1, Duration::ZERO).expect("booked");
        }
    });
    auditor.shutdown_blocking().expect("shutdown");

    let metrics = auditor.metrics();
    assert!(metrics.spooled > 0, "nothing spilled: {metrics:?}");
    let events = sink.events();
    let ids: Vec<_> = events.iter().filter_map(|e| e.entity_id.clone()).collect();
    let expected: Vec<_> = (0..40).map(|id: u64| id.to_string()).collect();
    assert_eq!(ids, expected, "every call, in order");
    for event in &events {
        duration_us(event);
    }
}

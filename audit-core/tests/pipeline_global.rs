//! The process-wide default auditor. Its own test binary: it changes global state.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::sinks::MemorySink;
use audit_core::{AuditEvent, Auditor, testing};

#[test]
fn the_global_auditor_receives_events_except_inside_a_capture() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    audit_core::set_global(auditor.clone());
    audit_core::record(AuditEvent::builder("GLOBAL").build());
    let ((), captured) =
        testing::capture(|| audit_core::record(AuditEvent::builder("CAPTURED").build()));
    // A dispatch captured now keeps pointing at the global auditor later, on any thread.
    let dispatch = audit_core::dispatch::current();
    std::thread::spawn(move || dispatch.record(AuditEvent::builder("LATER").build()))
        .join()
        .unwrap();
    auditor.flush_blocking().unwrap();
    let actions: Vec<_> = sink.events().iter().map(|e| e.action.to_string()).collect();
    assert_eq!(actions, ["GLOBAL", "LATER"]);
    assert_eq!(captured.actions(), ["CAPTURED"]);
}

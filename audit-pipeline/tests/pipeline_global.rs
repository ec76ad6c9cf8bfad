//! The process-wide default auditor. Its own test binary: it installs the global default.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::sinks::MemorySink;
use audit_core::{AuditEvent, testing};
use audit_pipeline::Auditor;

#[test]
fn the_global_auditor_receives_events_except_inside_a_capture() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    auditor.set_global_default().unwrap();
    audit_core::record(AuditEvent::builder("GLOBAL").build());
    let ((), captured) =
        testing::capture(|| audit_core::record(AuditEvent::builder("CAPTURED").build()));
    // A dispatch captured now keeps pointing at the global auditor later, on any thread.
    let dispatch = audit_core::dispatch::current();
    std::thread::spawn(move || dispatch.record(AuditEvent::builder("LATER").build()))
        .join()
        .unwrap();
    // A second install is refused; the first stays the default.
    let second = Auditor::builder(MemorySink::new()).build().unwrap();
    assert!(second.set_global_default().is_err());
    audit_core::record(AuditEvent::builder("STILL_FIRST").build());
    auditor.flush_blocking().unwrap();
    let actions: Vec<_> = sink.events().iter().map(|e| e.action.to_string()).collect();
    assert_eq!(actions, ["GLOBAL", "LATER", "STILL_FIRST"]);
    assert_eq!(captured.actions(), ["CAPTURED"]);
}

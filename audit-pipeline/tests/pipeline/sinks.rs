//! The sinks shipped with the pipeline: JSON Lines file and `tracing`.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use audit_core::sinks::{FsyncPolicy, JsonLinesSink, MemorySink, TracingSink};
use audit_core::{Actor, AuditEvent, AuditSink, Severity};
use audit_pipeline::Auditor;

#[test]
fn json_lines_sink_appends_events_in_order_through_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for round in 0..2 {
        let sink = JsonLinesSink::open(&path)
            .unwrap()
            .fsync(FsyncPolicy::EveryBatch);
        let auditor = Auditor::builder(sink).max_batch_size(3).build().unwrap();
        for i in 0..5 {
            auditor.record(AuditEvent::builder(format!("R{round}_E{i}")).build());
        }
        auditor.shutdown_blocking().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 10);
    let actions: Vec<_> = JsonLinesSink::read(&path)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.action.into_owned())
        .collect();
    let expected: Vec<_> = (0..2)
        .flat_map(|r| (0..5).map(move |i| format!("R{r}_E{i}")))
        .collect();
    assert_eq!(actions, expected);
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tracing_sink_emits_structured_fields_after_the_inner_sink_commits() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer({
            let buffer = buffer.clone();
            move || buffer.clone()
        })
        .finish();
    let store = MemorySink::new();
    let sink = TracingSink::wrap(store.clone());
    let event = AuditEvent::builder("LOGIN_FAILED")
        .actor(Actor::user("alice"))
        .severity(Severity::Warning)
        .failure("bad password")
        .build();
    tracing::subscriber::with_default(subscriber, || {
        futures::executor::block_on(sink.write(&[event])).unwrap();
    });
    let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["target"], "audit");
    assert_eq!(line["fields"]["action"], "LOGIN_FAILED");
    assert_eq!(line["fields"]["actor"], "alice");
    assert_eq!(line["fields"]["outcome"], "failure");
    assert_eq!(line["fields"]["seq"], 1);
    assert_eq!(store.len(), 1);
}

#[test]
fn tracing_sink_emits_nothing_when_the_inner_sink_fails() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let buffer = buffer.clone();
            move || buffer.clone()
        })
        .finish();
    let store = MemorySink::new();
    store.set_failing(true);
    let sink = TracingSink::wrap(store);
    tracing::subscriber::with_default(subscriber, || {
        let result = futures::executor::block_on(sink.write(&[AuditEvent::builder("A").build()]));
        assert!(result.is_err());
    });
    assert!(buffer.0.lock().unwrap().is_empty());
}

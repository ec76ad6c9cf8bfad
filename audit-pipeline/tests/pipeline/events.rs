//! What the pipeline does to each event: context, redaction, validation, observers.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use audit_core::redact::{REDACTED, Redactor};
use audit_core::sinks::MemorySink;
use audit_core::{Actor, AuditContext, AuditEvent, Category, EventObserver, Outcome, Severity};
use audit_pipeline::Auditor;
use audit_pipeline::{INVALID_EVENT_ACTION, PipelineError, RecordError};
use serde_json::json;

#[test]
fn an_invalid_event_is_replaced_by_a_system_event_and_reported() {
    let sink = MemorySink::new();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let auditor = Auditor::builder(sink.clone())
        .on_error({
            let reported = Arc::clone(&reported);
            move |e| {
                if let PipelineError::InvalidEvent { id, .. } = e {
                    reported.lock().unwrap().push(*id);
                }
            }
        })
        .build()
        .unwrap();
    let bad = AuditEvent::builder("drop table;")
        .actor(Actor::user("alice"))
        .build();
    let bad_id = bad.id;
    auditor.record(bad);
    auditor.record(AuditEvent::builder("NEXT").build());
    auditor.flush_blocking().unwrap();

    let events = sink.events();
    assert_eq!(events.len(), 2);
    let stand_in = &events[0];
    assert_eq!(stand_in.action, INVALID_EVENT_ACTION);
    assert_eq!(stand_in.category, Category::System);
    assert_eq!(stand_in.severity, Severity::Error);
    assert_eq!(stand_in.outcome, Outcome::Failure);
    assert!(
        stand_in
            .reason
            .as_deref()
            .unwrap()
            .contains("invalid action code")
    );
    assert_eq!(stand_in.metadata["original_id"], bad_id.to_string());
    assert_eq!(stand_in.metadata["original_action"], "drop table;");
    assert_eq!(stand_in.actor, Some(Actor::user("alice")));
    assert_eq!(events[1].action, "NEXT");
    assert_eq!(*reported.lock().unwrap(), [bad_id]);
    assert_eq!(auditor.metrics().invalid, 1);
}

#[test]
fn record_durable_of_an_invalid_event_says_why() {
    let auditor = Auditor::builder(MemorySink::new()).build().unwrap();
    let result = auditor.record_durable_blocking(
        AuditEvent::builder("OK")
            .metadata(json!("not an object"))
            .build(),
    );
    assert!(matches!(result, Err(RecordError::Invalid(_))));
}

#[test]
fn metadata_is_redacted_at_depth_before_the_sink_sees_it() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    auditor.record(
        AuditEvent::builder("LOGIN")
            .metadata(json!({
                "attempt": {"credentials": {"Password": "hunter2", "user": "alice"}},
                "devices": [{"push_token": "t", "os": "ios"}],
            }))
            .build(),
    );
    auditor.flush_blocking().unwrap();
    assert_eq!(
        sink.events()[0].metadata,
        json!({
            "attempt": {"credentials": REDACTED},
            "devices": [{"push_token": REDACTED, "os": "ios"}],
        })
    );
}

#[test]
fn a_custom_redactor_replaces_the_default_list() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .redactor(Redactor::with_keys(["iban"]))
        .build()
        .unwrap();
    auditor.record(
        AuditEvent::builder("PAYOUT")
            .metadata(json!({"iban": "DE89", "password": "kept"}))
            .build(),
    );
    auditor.flush_blocking().unwrap();
    assert_eq!(
        sink.events()[0].metadata,
        json!({"iban": REDACTED, "password": "kept"})
    );
}

#[test]
fn the_context_is_captured_when_recording_not_when_writing() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    AuditContext::new()
        .actor(Actor::user("alice"))
        .tenant("acme")
        .sync_scope(|| auditor.record(AuditEvent::builder("IN_SCOPE").build()));
    auditor.flush_blocking().unwrap();
    let event = &sink.events()[0];
    assert_eq!(event.actor, Some(Actor::user("alice")));
    assert_eq!(event.tenant.as_deref(), Some("acme"));
}

struct FailedLoginAlert;

impl EventObserver for FailedLoginAlert {
    fn observe(&self, event: &AuditEvent) -> Vec<AuditEvent> {
        if event.action == "LOGIN_FAILED" {
            vec![
                AuditEvent::builder("ALERT_FIRED")
                    .category(Category::System)
                    .severity(Severity::Critical)
                    .build(),
            ]
        } else {
            Vec::new()
        }
    }
}

#[test]
fn observers_see_each_event_and_their_events_are_recorded_after_it() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .observer(FailedLoginAlert)
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("LOGIN_FAILED").build());
    auditor.record(AuditEvent::builder("LOGIN").build());
    auditor.flush_blocking().unwrap();
    let actions: Vec<_> = sink.events().iter().map(|e| e.action.to_string()).collect();
    assert_eq!(actions, ["LOGIN_FAILED", "ALERT_FIRED", "LOGIN"]);
}

#[test]
fn a_scoped_auditor_overrides_the_global_one_for_its_scope() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    auditor.sync_scope(|| audit_core::record(AuditEvent::builder("SCOPED").build()));
    auditor.flush_blocking().unwrap();
    assert_eq!(sink.events()[0].action, "SCOPED");
}

struct FlushingObserver {
    auditor: Arc<std::sync::OnceLock<Auditor>>,
    result: Arc<Mutex<Option<Result<(), RecordError>>>>,
}

impl EventObserver for FlushingObserver {
    fn observe(&self, _event: &AuditEvent) -> Vec<AuditEvent> {
        if let Some(auditor) = self.auditor.get() {
            *self.result.lock().unwrap() = Some(auditor.flush_blocking());
        }
        Vec::new()
    }
}

#[test]
fn a_blocking_call_from_the_worker_thread_is_refused_instead_of_deadlocking() {
    let slot = Arc::new(std::sync::OnceLock::new());
    let result = Arc::new(Mutex::new(None));
    let auditor = Auditor::builder(MemorySink::new())
        .observer(FlushingObserver {
            auditor: Arc::clone(&slot),
            result: Arc::clone(&result),
        })
        .build()
        .unwrap();
    slot.set(auditor.clone()).unwrap();
    auditor.record(AuditEvent::builder("A").build());
    auditor.flush_blocking().unwrap();
    assert_eq!(
        *result.lock().unwrap(),
        Some(Err(RecordError::OnWorkerThread))
    );
    auditor.shutdown_blocking().unwrap();
}

#[test]
fn a_panicking_error_hook_does_not_stop_the_pipeline() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .on_error(|_| panic!("a buggy error hook"))
        .build()
        .unwrap();
    // The invalid event makes the worker call the hook.
    auditor.record(AuditEvent::builder("drop table;").build());
    auditor.record(AuditEvent::builder("NEXT").build());
    auditor.flush_blocking().unwrap();
    auditor.record(AuditEvent::builder("LATER").build());
    auditor.shutdown_blocking().unwrap();
    let actions: Vec<_> = sink.events().iter().map(|e| e.action.to_string()).collect();
    assert_eq!(actions, [INVALID_EVENT_ACTION, "NEXT", "LATER"]);
}

#[test]
fn secrets_in_a_failure_reason_are_redacted_before_the_sink_sees_them() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone()).build().unwrap();
    // An error's Display text quoting a connection string and a request body.
    auditor.record(
        AuditEvent::builder("DB_CONNECT")
            .failure(r#"connect failed: password=hunter2 host=db body={"token":"t-1"}"#)
            .build(),
    );
    auditor.shutdown_blocking().unwrap();
    let reason = sink.events()[0].reason.clone().unwrap();
    assert!(
        !reason.contains("hunter2") && !reason.contains("t-1"),
        "{reason}"
    );
    assert!(reason.contains("host=db"), "{reason}");
}

#[test]
fn the_worker_fills_an_event_with_the_context_as_it_stood_when_the_event_was_recorded() {
    use audit_core::context::{self, Completion};
    let sink = MemorySink::new();
    // The worker holds events back, so it settles both after the completion below.
    let auditor = Auditor::builder(sink.clone())
        .max_linger(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    auditor.sync_scope(|| {
        AuditContext::new().request_id("r-1").sync_scope(|| {
            audit_core::record(AuditEvent::builder("BEFORE_LOGIN").build());
            context::complete(Completion::new().actor(Actor::user("u-42"))).unwrap();
            audit_core::record(AuditEvent::builder("AFTER_LOGIN").build());
        })
    });
    auditor.flush_blocking().unwrap();
    let actors: Vec<_> = sink.events().into_iter().map(|e| e.actor).collect();
    assert_eq!(actors, [None, Some(Actor::user("u-42"))]);
}

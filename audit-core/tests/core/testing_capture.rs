//! `testing::capture` in tests that run in parallel, with no global state.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::Barrier;

use audit_core::redact::REDACTED;
use audit_core::{AuditEvent, Category, Severity, testing};
use serde_json::json;

#[test]
fn parallel_captures_each_see_only_their_own_events() {
    const THREADS: usize = 8;
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    testing::capture(|| {
                        barrier.wait();
                        for i in 0..50 {
                            audit_core::record(AuditEvent::builder(format!("T{t}_E{i}")).build());
                        }
                    })
                    .1
                })
            })
            .collect();
        for (t, handle) in handles.into_iter().enumerate() {
            let captured = handle.join().unwrap();
            assert_eq!(captured.len(), 50);
            let prefix = format!("T{t}_");
            assert!(captured.actions().iter().all(|a| a.starts_with(&prefix)));
        }
    });
}

#[test]
fn outside_a_capture_and_before_any_install_recording_is_held_and_does_not_panic() {
    let early = || {
        let e = audit_core::dispatch::early_events();
        e.held as u64 + e.lost
    };
    let before = early();
    audit_core::record(AuditEvent::builder("NOBODY_LISTENS_YET").build());
    assert!(early() > before);
}

#[test]
fn nested_captures_keep_their_events_apart() {
    let (inner, outer) = testing::capture(|| {
        audit_core::record(AuditEvent::builder("OUTER").build());
        testing::capture(|| audit_core::record(AuditEvent::builder("INNER").build())).1
    });
    assert_eq!(outer.actions(), ["OUTER"]);
    assert_eq!(inner.actions(), ["INNER"]);
}

#[test]
fn invalid_events_are_reported_separately_and_never_panic() {
    let ((), captured) = testing::capture(|| {
        audit_core::record(AuditEvent::builder("drop table;").build());
        audit_core::record(AuditEvent::builder("VALID").build());
        audit_core::record(
            AuditEvent::builder("BAD_METADATA")
                .metadata(json!([1, 2, 3]))
                .build(),
        );
    });
    assert_eq!(captured.actions(), ["VALID"]);
    let invalid = captured.invalid();
    assert_eq!(invalid.len(), 2);
    assert_eq!(invalid[0].event.action, "drop table;");
    assert_eq!(invalid[0].stand_in.action, "AUDIT_EVENT_INVALID");
    assert_eq!(invalid[0].stand_in.category, Category::System);
    assert_eq!(invalid[0].stand_in.severity, Severity::Error);
    assert!(invalid[1].error.to_string().contains("metadata"));
}

#[test]
fn captured_metadata_is_redacted_at_any_depth() {
    let ((), captured) = testing::capture(|| {
        audit_core::record(
            AuditEvent::builder("SIGNUP")
                .metadata(json!({
                    "user": "alice",
                    "form": {"password": "p", "profile": {"api_key": "k"}},
                    "payments": [{"card_number": "4111", "amount": 3}],
                    "headers": {"Authorization": "Bearer x", "Accept": "*/*"},
                }))
                .build(),
        );
    });
    assert_eq!(
        captured.single().metadata,
        json!({
            "user": "alice",
            "form": {"password": REDACTED, "profile": {"api_key": REDACTED}},
            "payments": [{"card_number": REDACTED, "amount": 3}],
            "headers": {"Authorization": REDACTED, "Accept": "*/*"},
        })
    );
}

#[tokio::test(flavor = "current_thread")]
async fn capture_async_sees_events_across_awaits() {
    let (n, captured) = testing::capture_async(async {
        for i in 0..3 {
            tokio::task::yield_now().await;
            audit_core::record(AuditEvent::builder(format!("STEP_{i}")).build());
        }
        3
    })
    .await;
    assert_eq!(n, 3);
    assert_eq!(captured.actions(), ["STEP_0", "STEP_1", "STEP_2"]);
}

#[test]
fn a_dispatch_captured_inside_records_into_the_capture_from_anywhere() {
    let ((), captured) = testing::capture(|| {
        let dispatch = audit_core::dispatch::current();
        std::thread::spawn(move || dispatch.record(AuditEvent::builder("LATER").build()))
            .join()
            .unwrap();
    });
    assert_eq!(captured.actions(), ["LATER"]);
}

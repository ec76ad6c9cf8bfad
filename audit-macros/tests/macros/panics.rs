//! A panic inside an annotated function records a failure and then keeps unwinding with the
//! original payload.

use std::panic::{AssertUnwindSafe, catch_unwind};

use audit_core::testing::{capture, capture_async};
use audit_core::{Outcome, audited};
use futures::FutureExt;

#[audited("SYNC_PANIC")]
fn sync_panic(n: u32) -> Result<u32, std::io::Error> {
    if n > 0 {
        panic!("boom {n}");
    }
    Ok(n)
}

#[audited("ASYNC_PANIC")]
async fn async_panic() -> u32 {
    tokio::task::yield_now().await;
    panic!("async boom");
}

#[audited("OUTER")]
fn outer() {
    inner();
}

#[audited("INNER")]
fn inner() {
    panic!("deep");
}

#[test]
fn sync_panic_records_a_failure_with_the_panic_message() {
    let (result, captured) = capture(|| catch_unwind(|| sync_panic(3)));
    assert!(result.is_err());
    let event = captured.single();
    assert_eq!(event.action, "SYNC_PANIC");
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("panicked: boom 3"));
}

#[test]
fn sync_panic_keeps_unwinding_with_the_original_payload() {
    let (result, _) = capture(|| catch_unwind(|| sync_panic(5)));
    let payload = result.err().and_then(|p| p.downcast::<String>().ok());
    assert_eq!(payload.as_deref().map(String::as_str), Some("boom 5"));
}

#[test]
fn static_str_panic_message_is_recorded() {
    let (_, captured) = capture(|| catch_unwind(inner));
    assert_eq!(captured.single().reason.as_deref(), Some("panicked: deep"));
}

#[test]
fn nested_annotated_calls_both_record_the_panic() {
    let (_, captured) = capture(|| catch_unwind(outer));
    assert_eq!(captured.actions(), ["INNER", "OUTER"]);
    for event in captured.events() {
        assert_eq!(event.reason.as_deref(), Some("panicked: deep"));
    }
}

#[test]
fn a_caught_earlier_panic_does_not_leak_into_a_later_success() {
    let (_, captured) = capture(|| {
        let _ = catch_unwind(inner);
        sync_panic(0)
    });
    assert_eq!(captured.actions(), ["INNER", "SYNC_PANIC"]);
    assert_eq!(captured.events()[1].outcome, Outcome::Success);
    assert_eq!(captured.events()[1].reason, None);
}

#[tokio::test]
async fn async_panic_records_a_failure_and_keeps_unwinding() {
    let (result, captured) = capture_async(AssertUnwindSafe(async_panic()).catch_unwind()).await;
    let payload = result.err().and_then(|p| p.downcast::<&str>().ok());
    assert_eq!(payload.as_deref(), Some(&"async boom"));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("panicked: async boom"));
}

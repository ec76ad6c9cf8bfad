//! When the application replaces the panic hook after `#[audited]` installed its own, panics
//! are still recorded, without a stale message. (Its own test binary: it changes the
//! process-wide panic hook.)

use std::panic::catch_unwind;

use audit_core::testing::capture;
use audit_core::{Outcome, audited};

#[audited("REPLACED_HOOK")]
fn maybe_panic(fail: bool) {
    assert!(!fail, "first message");
}

#[test]
fn a_replaced_panic_hook_still_records_the_panic_without_a_stale_message() {
    let (_, earlier) = capture(|| catch_unwind(|| maybe_panic(true)));
    assert_eq!(
        earlier.single().reason.as_deref(),
        Some("panicked: first message")
    );
    std::panic::set_hook(Box::new(|_| {}));
    let (_, captured) = capture(|| catch_unwind(|| maybe_panic(true)));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(
        event.reason.as_deref(),
        Some("panicked: <message unavailable: the panic hook was replaced>")
    );
}

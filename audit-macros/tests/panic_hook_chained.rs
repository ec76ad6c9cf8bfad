//! The panic hook `#[audited]` installs chains to the application's earlier hook.
//! (Its own test binary: it changes the process-wide panic hook.)

use std::panic::catch_unwind;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::audited;
use audit_core::testing::capture;

static EARLIER_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[audited("HOOKED_PANIC")]
fn panics() {
    panic!("chained");
}

#[test]
fn an_earlier_panic_hook_still_runs_and_the_message_is_recorded() {
    std::panic::set_hook(Box::new(|_| {
        EARLIER_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    }));
    let (_, captured) = capture(|| catch_unwind(panics));
    assert_eq!(EARLIER_HOOK_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(
        captured.single().reason.as_deref(),
        Some("panicked: chained")
    );
}

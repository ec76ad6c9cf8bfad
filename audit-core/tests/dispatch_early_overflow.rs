//! More events than the early buffer holds, before any install: the excess is dropped and
//! counted, nothing panics, and what was held still reaches the first recorder. Its own test
//! binary: it installs the global default.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::AuditEvent;
use audit_core::dispatch::{self, EARLY_CAPACITY};
use audit_core::recorder::{Recorded, Recorder};

#[derive(Default)]
struct Count(AtomicUsize);

impl Recorder for Count {
    fn record(&self, _recorded: Recorded) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn events_past_the_early_capacity_are_counted_as_lost_and_the_held_ones_are_replayed() {
    let extra = 10;
    for i in 0..EARLY_CAPACITY + extra {
        audit_core::record(AuditEvent::builder(format!("EARLY_{i}")).build());
    }
    let early = dispatch::early_events();
    assert_eq!(early.held, EARLY_CAPACITY);
    assert_eq!(early.lost, extra as u64);

    let count = Arc::new(Count::default());
    let recorder: Arc<dyn Recorder> = count.clone();
    dispatch::set_global_default(recorder).unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), EARLY_CAPACITY);
    assert_eq!(
        dispatch::early_events().lost,
        extra as u64,
        "the loss stays visible"
    );
}

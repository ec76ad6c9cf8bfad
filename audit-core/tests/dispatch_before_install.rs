//! Events recorded before the process default is installed are held and replayed into it,
//! and the default installs once. Its own test binary: it installs the global default.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use audit_core::dispatch;
use audit_core::recorder::{Recorded, Recorder};
use audit_core::{Actor, AuditContext, AuditEvent};

/// Keeps (action, actor id) of every event it takes.
#[derive(Default)]
struct Keep(Mutex<Vec<(String, Option<String>)>>);

impl Recorder for Keep {
    fn record(&self, recorded: Recorded) {
        let (mut event, context) = recorded.into_settled();
        if let Some(context) = context {
            context.apply_to(&mut event);
        }
        let actor = event.actor.map(|a| a.id);
        self.0
            .lock()
            .unwrap()
            .push((event.action.into_owned(), actor));
    }
}

#[test]
fn early_events_are_replayed_in_order_with_their_context_and_a_second_install_is_refused() {
    // Recorded before any recorder exists: held, in order, each with its context.
    audit_core::record(AuditEvent::builder("EARLY_ONE").build());
    AuditContext::new()
        .actor(Actor::user("alice"))
        .sync_scope(|| audit_core::record(AuditEvent::builder("EARLY_TWO").build()));
    // A handle taken now (as `#[audited]` takes one when a call starts) routes to whatever
    // is installed when the call ends.
    let started_before_install = dispatch::current();
    assert_eq!(dispatch::early_events().held, 2);
    assert!(dispatch::global_default().is_none());

    let keep = Arc::new(Keep::default());
    let recorder: Arc<dyn Recorder> = keep.clone();
    dispatch::set_global_default(recorder).unwrap();
    assert_eq!(dispatch::early_events().held, 0, "replayed, not kept");

    started_before_install.record(AuditEvent::builder("FINISHED_AFTER").build());
    audit_core::record(AuditEvent::builder("AFTER").build());
    let seen = keep.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("EARLY_ONE".to_owned(), None),
            ("EARLY_TWO".to_owned(), Some("alice".to_owned())),
            ("FINISHED_AFTER".to_owned(), None),
            ("AFTER".to_owned(), None),
        ]
    );

    // Once per process: a second install is an error, and the first stays in place.
    let other: Arc<dyn Recorder> = Arc::new(Keep::default());
    let err = dispatch::set_global_default(other).unwrap_err();
    assert!(err.to_string().contains("already installed"), "{err}");
    audit_core::record(AuditEvent::builder("STILL_FIRST").build());
    assert_eq!(keep.0.lock().unwrap().len(), 5);
    assert_eq!(dispatch::early_events().lost, 0);
}

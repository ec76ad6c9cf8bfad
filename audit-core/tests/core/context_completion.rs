//! Completing the current context from inside the unit of work: who sees a completion, and
//! who never does.

use std::sync::{Arc, Mutex};

use audit_core::context::{self, CompleteError, Completion};
use audit_core::recorder::{Recorded, Recorder};
use audit_core::{Actor, AuditContext, AuditEvent, audited, dispatch, testing};

fn event(action: &'static str) -> AuditEvent {
    AuditEvent::builder(action).build()
}

fn alice() -> Completion {
    Completion::new()
        .actor(Actor::user("u-42"))
        .session_id("s-9")
}

#[test]
fn events_recorded_after_a_completion_carry_the_actor_and_session() {
    let ((), captured) = testing::capture(|| {
        AuditContext::new().request_id("r-1").sync_scope(|| {
            context::complete(alice()).unwrap();
            audit_core::record(event("AFTER"));
        })
    });
    let after = captured.single();
    assert_eq!(after.actor, Some(Actor::user("u-42")));
    assert_eq!(after.session_id.as_deref(), Some("s-9"));
    assert_eq!(after.request_id.as_deref(), Some("r-1"));
}

/// Keeps what it is handed, to settle it later: a worker that runs behind the callers.
#[derive(Default)]
struct Late(Mutex<Vec<Recorded>>);

impl Recorder for Late {
    fn record(&self, recorded: Recorded) {
        self.0.lock().unwrap().push(recorded);
    }
}

#[test]
fn an_event_recorded_before_a_completion_never_gets_it_even_if_settled_later() {
    let late = Arc::new(Late::default());
    let recorder: Arc<dyn Recorder> = late.clone();
    dispatch::sync_with_recorder(recorder, || {
        AuditContext::new().sync_scope(|| {
            audit_core::record(event("BEFORE"));
            context::complete(alice()).unwrap();
            audit_core::record(event("AFTER"));
        })
    });
    // Settled only now, after the completion, as a pipeline's worker would.
    let actors: Vec<_> = std::mem::take(&mut *late.0.lock().unwrap())
        .into_iter()
        .map(|recorded| {
            let (mut event, snapshot) = recorded.into_settled();
            snapshot.unwrap().apply_to(&mut event);
            event.actor.map(|a| a.id)
        })
        .collect();
    assert_eq!(actors, [None, Some("u-42".to_owned())]);
}

#[audited("ARTICLE_CREATED")]
fn authenticate_then_create() -> Result<(), String> {
    context::complete(alice()).map_err(|e| e.to_string())
}

#[test]
fn an_audited_call_that_authenticates_in_its_body_is_recorded_with_the_actor() {
    let (_, captured) =
        testing::capture(|| AuditContext::new().sync_scope(authenticate_then_create));
    assert_eq!(captured.single().actor, Some(Actor::user("u-42")));
}

#[audited("ARTICLE_CREATED")]
async fn authenticate_then_create_async() {
    tokio::task::yield_now().await;
    context::complete(alice()).unwrap();
    tokio::task::yield_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_audited_call_sees_a_completion_made_across_awaits() {
    let ((), captured) =
        testing::capture_async(AuditContext::new().scope(authenticate_then_create_async())).await;
    assert_eq!(captured.single().session_id.as_deref(), Some("s-9"));
}

#[test]
fn a_completion_in_a_nested_inherited_scope_is_seen_by_the_outer_scope() {
    let ((), captured) = testing::capture(|| {
        AuditContext::new().request_id("r-1").sync_scope(|| {
            AuditContext::inherited()
                .tenant("acme")
                .sync_scope(|| context::complete(alice()).unwrap());
            // The edge, after the handler returned.
            audit_core::record(event("REJECTION_BOOKKEEPING"));
        })
    });
    assert_eq!(captured.single().actor, Some(Actor::user("u-42")));
}

#[test]
fn a_completion_in_the_outer_scope_is_seen_by_a_nested_scope_made_before_it() {
    let ((), captured) = testing::capture(|| {
        AuditContext::new().sync_scope(|| {
            let nested = AuditContext::inherited();
            context::complete(alice()).unwrap();
            nested.sync_scope(|| audit_core::record(event("NESTED")));
        })
    });
    assert_eq!(captured.single().actor, Some(Actor::user("u-42")));
}

#[test]
fn a_field_the_nested_scope_set_itself_wins_over_the_completion() {
    let ((), captured) = testing::capture(|| {
        AuditContext::new().sync_scope(|| {
            context::complete(alice()).unwrap();
            AuditContext::inherited()
                .actor(Actor::service("cron"))
                .sync_scope(|| audit_core::record(event("AS_CRON")));
        })
    });
    assert_eq!(captured.single().actor, Some(Actor::service("cron")));
}

#[test]
fn a_new_context_inside_is_a_unit_of_work_of_its_own() {
    let ((), captured) = testing::capture(|| {
        AuditContext::new().sync_scope(|| {
            AuditContext::new().sync_scope(|| context::complete(alice()).unwrap());
            audit_core::record(event("OUTER"));
        })
    });
    assert_eq!(captured.single().actor, None);
}

#[test]
fn each_field_is_completed_once_and_a_different_second_value_is_refused() {
    let ((), captured) = testing::capture(|| {
        AuditContext::new().sync_scope(|| {
            context::complete(Completion::new().actor(Actor::user("u-42"))).unwrap();
            // The same value again is fine (an extractor that runs twice).
            context::complete(Completion::new().actor(Actor::user("u-42"))).unwrap();
            let refused = context::complete(
                Completion::new()
                    .actor(Actor::user("mallory"))
                    .session_id("s-9"),
            );
            assert_eq!(
                refused,
                Err(CompleteError::AlreadySet {
                    fields: vec!["actor"]
                })
            );
            audit_core::record(event("AFTER"));
        })
    });
    let event = captured.single();
    assert_eq!(event.actor, Some(Actor::user("u-42")));
    // The free field of the refused call was completed.
    assert_eq!(event.session_id.as_deref(), Some("s-9"));
}

#[test]
fn a_field_the_scope_was_entered_with_cannot_be_completed_to_another_value() {
    AuditContext::new()
        .actor(Actor::user("edge"))
        .sync_scope(|| {
            let refused = context::complete(Completion::new().actor(Actor::user("other")));
            assert!(matches!(refused, Err(CompleteError::AlreadySet { .. })));
        });
}

#[test]
fn completing_outside_any_scope_is_an_error_and_not_a_panic() {
    assert_eq!(context::complete(alice()), Err(CompleteError::NoContext));
}

#[test]
fn a_snapshot_a_clone_and_the_serialized_form_include_the_completed_fields() {
    AuditContext::new().request_id("r-1").sync_scope(|| {
        context::complete(alice()).unwrap();
        let current = AuditContext::current().unwrap();
        // The public fields are what the scope was entered with.
        assert_eq!(current.actor, None);
        let snapshot = current.snapshot();
        assert_eq!(snapshot.actor, Some(Actor::user("u-42")));
        assert_eq!((*current).clone(), snapshot);
        let json = serde_json::to_value(&*current).unwrap();
        assert_eq!(json["actor"]["id"], "u-42");
        assert_eq!(json["session_id"], "s-9");
        let back: AuditContext = serde_json::from_value(json).unwrap();
        assert_eq!(back, snapshot);
    });
}

#[test]
fn a_snapshot_is_detached_from_later_completions() {
    AuditContext::new().sync_scope(|| {
        let before = AuditContext::current().unwrap().snapshot();
        context::complete(alice()).unwrap();
        assert_eq!(before.actor, None);
        before.sync_scope(|| {
            // Completing the detached copy does not reach the request.
            context::complete(Completion::new().tenant("other")).unwrap();
        });
        assert_eq!(AuditContext::current().unwrap().snapshot().tenant, None);
    });
}

#[tokio::test]
async fn a_task_spawned_with_the_context_belongs_to_the_same_unit_of_work() {
    let ((), captured) = testing::capture_async(AuditContext::new().scope(async {
        context::spawn(async { context::complete(alice()).unwrap() })
            .await
            .unwrap();
        audit_core::record(event("AFTER_THE_TASK"));
    }))
    .await;
    assert_eq!(captured.single().actor, Some(Actor::user("u-42")));
}

//! The audit context follows the work: across `.await`, through nested sync scopes, into
//! spawned tasks, `spawn_blocking` closures and plain threads.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use audit_core::{Actor, AuditContext, AuditEvent, context, testing};

fn actor_id(ctx: &Option<Arc<AuditContext>>) -> Option<String> {
    ctx.as_ref()?.actor.as_ref().map(|a| a.id.clone())
}

fn alice() -> AuditContext {
    AuditContext::new()
        .actor(Actor::user("alice"))
        .request_id("req-1")
        .ip("10.0.0.7".parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_survives_awaits_across_worker_threads() {
    let seen = alice()
        .scope(async {
            let mut seen = Vec::new();
            for _ in 0..20 {
                // Yielding lets the scheduler move the task to the other worker thread.
                tokio::task::yield_now().await;
                seen.push(actor_id(&AuditContext::current()));
            }
            seen
        })
        .await;
    assert!(seen.iter().all(|a| a.as_deref() == Some("alice")));
    assert!(AuditContext::current().is_none());
}

#[test]
fn sync_scopes_nest_and_restore() {
    assert!(AuditContext::current().is_none());
    alice().sync_scope(|| {
        assert_eq!(actor_id(&AuditContext::current()).as_deref(), Some("alice"));
        AuditContext::new()
            .actor(Actor::service("cron"))
            .sync_scope(|| {
                assert_eq!(actor_id(&AuditContext::current()).as_deref(), Some("cron"));
            });
        assert_eq!(actor_id(&AuditContext::current()).as_deref(), Some("alice"));
    });
    assert!(AuditContext::current().is_none());
}

#[test]
fn a_panic_inside_a_scope_still_restores_the_outer_context() {
    alice().sync_scope(|| {
        let result = std::panic::catch_unwind(|| {
            AuditContext::new()
                .actor(Actor::user("mallory"))
                .sync_scope(|| panic!("boom"))
        });
        assert!(result.is_err());
        assert_eq!(actor_id(&AuditContext::current()).as_deref(), Some("alice"));
    });
}

#[tokio::test]
async fn a_sync_scope_inside_an_async_scope_wins_while_it_lasts() {
    alice()
        .scope(async {
            let inner = AuditContext::new()
                .actor(Actor::service("import"))
                .sync_scope(|| actor_id(&AuditContext::current()));
            assert_eq!(inner.as_deref(), Some("import"));
            assert_eq!(actor_id(&AuditContext::current()).as_deref(), Some("alice"));
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_spawn_carries_the_context_into_the_task() {
    let seen = alice()
        .scope(async {
            context::spawn(async {
                tokio::task::yield_now().await;
                actor_id(&AuditContext::current())
            })
            .await
            .unwrap()
        })
        .await;
    assert_eq!(seen.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_plain_tokio_spawn_starts_without_context() {
    let seen = alice()
        .scope(async {
            tokio::spawn(async { AuditContext::current() })
                .await
                .unwrap()
        })
        .await;
    assert!(seen.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_spawn_blocking_carries_the_context_into_the_closure() {
    let seen = alice()
        .scope(async {
            context::spawn_blocking(|| actor_id(&AuditContext::current()))
                .await
                .unwrap()
        })
        .await;
    assert_eq!(seen.as_deref(), Some("alice"));
}

#[test]
fn bind_fn_carries_the_context_to_another_thread() {
    let job = alice().sync_scope(|| context::bind_fn(|| actor_id(&AuditContext::current())));
    let seen = std::thread::spawn(job).join().unwrap();
    assert_eq!(seen.as_deref(), Some("alice"));
}

#[test]
fn events_pick_up_the_context_and_explicit_fields_win() {
    let ((), captured) = testing::capture(|| {
        alice().sync_scope(|| {
            audit_core::record(AuditEvent::builder("FROM_CONTEXT").build());
            audit_core::record(
                AuditEvent::builder("EXPLICIT")
                    .actor(Actor::user("bob"))
                    .request_id("req-explicit")
                    .build(),
            );
        })
    });
    let from_context = captured.single_by_action("FROM_CONTEXT");
    assert_eq!(from_context.actor, Some(Actor::user("alice")));
    assert_eq!(from_context.request_id.as_deref(), Some("req-1"));
    assert_eq!(from_context.ip, Some("10.0.0.7".parse().unwrap()));
    let explicit = captured.single_by_action("EXPLICIT");
    assert_eq!(explicit.actor, Some(Actor::user("bob")));
    assert_eq!(explicit.request_id.as_deref(), Some("req-explicit"));
    // Fields the event left empty still come from the context.
    assert_eq!(explicit.ip, Some("10.0.0.7".parse().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_in_spawned_work_carry_the_callers_context() {
    let ((), captured) = testing::capture_async(alice().scope(async {
        context::spawn(async {
            audit_core::record(AuditEvent::builder("IN_TASK").build());
        })
        .await
        .unwrap();
        context::spawn_blocking(|| {
            audit_core::record(AuditEvent::builder("IN_BLOCKING").build());
        })
        .await
        .unwrap();
    }))
    .await;
    assert_eq!(captured.actions(), ["IN_TASK", "IN_BLOCKING"]);
    for event in captured.events() {
        assert_eq!(event.actor, Some(Actor::user("alice")));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_context_scope_and_a_recorder_scope_nest_in_either_order_however_they_were_built() {
    // The recorder scope wraps a context scope built before it (and so outside it).
    let inner = alice().scope(async { audit_core::record(AuditEvent::builder("A").build()) });
    let ((), outer_recorder) = testing::capture_async(inner).await;
    assert_eq!(outer_recorder.single().actor, Some(Actor::user("alice")));
    // The context scope wraps a recorder scope built before it.
    let captured = testing::capture_async(async {
        audit_core::record(AuditEvent::builder("B").build());
    });
    let ((), outer_context) = alice().scope(captured).await;
    assert_eq!(outer_context.single().actor, Some(Actor::user("alice")));
}

#[test]
fn a_context_persisted_with_a_job_is_restored_when_the_job_runs() {
    let stored = serde_json::to_string(&alice()).unwrap();
    let restored: AuditContext = serde_json::from_str(&stored).unwrap();
    assert_eq!(restored, alice());
    let ((), captured) = testing::capture(|| {
        restored.sync_scope(|| audit_core::record(AuditEvent::builder("JOB_RAN").build()))
    });
    assert_eq!(captured.single().actor, Some(Actor::user("alice")));
}

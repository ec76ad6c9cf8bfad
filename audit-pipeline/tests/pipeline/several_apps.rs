//! Several apps in one process (a test suite starting one app per test, a multi-tenant
//! host): one auditor per app, no global default, each app's work routed through its
//! auditor's scope. Their events never mix, whatever threads and tasks the work runs on, and
//! each app's threads stop with it.

use std::time::Duration;

use audit_core::sinks::MemorySink;
use audit_core::{Actor, AuditContext, AuditEvent, context};
use audit_pipeline::Auditor;

/// One simulated app: a runtime of its own, requests handled in spawned tasks.
fn run_app(name: &'static str, auditor: Auditor, requests: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(auditor.scope(async move {
        let mut handles = Vec::new();
        for i in 0..requests {
            let ctx = AuditContext::new()
                .actor(Actor::user(format!("{name}-user")))
                .request_id(format!("{name}-{i}"));
            handles.push(context::spawn(ctx.scope(async move {
                tokio::task::yield_now().await;
                audit_core::record(AuditEvent::builder("APP_REQUEST").build());
                // Work handed to a blocking thread stays with the app too.
                context::spawn_blocking(|| {
                    audit_core::record(AuditEvent::builder("APP_BLOCKING_WORK").build());
                })
                .await
                .unwrap();
            })));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    }));
    // The app's runtime ends here, as a test's would.
    drop(runtime);
    auditor.shutdown_blocking().unwrap();
}

#[test]
fn two_apps_in_one_process_keep_their_events_apart() {
    let (a_sink, b_sink) = (MemorySink::new(), MemorySink::new());
    let a = Auditor::builder(a_sink.clone()).build().unwrap();
    let b = Auditor::builder(b_sink.clone()).build().unwrap();
    let apps = [
        std::thread::spawn(move || run_app("a", a, 50)),
        std::thread::spawn(move || run_app("b", b, 50)),
    ];
    for app in apps {
        app.join().unwrap();
    }
    for (name, sink) in [("a", &a_sink), ("b", &b_sink)] {
        let events = sink.events();
        assert_eq!(events.len(), 100, "app {name} recorded 50 requests twice");
        for event in events {
            let actor = event.actor.as_ref().map(|a| a.id.as_str());
            assert_eq!(actor, Some(format!("{name}-user").as_str()), "{event:?}");
            let request = event.request_id.as_deref().unwrap_or("");
            assert!(request.starts_with(&format!("{name}-")), "{request}");
        }
    }
}

#[test]
fn apps_started_one_after_another_each_keep_every_event() {
    // 25 short-lived apps, each with its own runtime and auditor, as a test suite runs them.
    for round in 0..25 {
        let sink = MemorySink::new();
        let auditor = Auditor::builder(sink.clone())
            .write_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        run_app("round", auditor, 4);
        assert_eq!(sink.len(), 8, "round {round}");
    }
}

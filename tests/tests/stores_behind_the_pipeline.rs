//! The stores behind the `Auditor` pipeline: durable receipts carry the stored chain
//! positions, and everything recorded is stored in one valid chain after shutdown. One body
//! per behaviour, run against every store.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::query::AuditQuery;
use audit_core::{Actor, AuditEvent, AuditSink, AuditStore, ChainHasher};
use audit_integration_tests::{database_url, fresh_mysql, fresh_pg, fresh_sqlite, mysql_url};
use audit_pipeline::Auditor;

/// Apps that each open their store and auditor on a runtime of their own and drop that
/// runtime with events still queued (one app per test of a service's suite): every event is
/// stored, and no drain waits on a dead runtime's pool (which waited out its 30 s acquire
/// timeout before stores had a runtime of their own, losing the tail when the process ended).
fn apps_on_short_lived_runtimes_keep_every_event<S, Fut>(open: impl Fn() -> Fut)
where
    S: AuditSink + AuditStore + Clone,
    Fut: std::future::Future<Output = S>,
{
    const APPS: usize = 5;
    const EVENTS: usize = 200;
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let mut stores = Vec::new();
    for app in 0..APPS {
        let app_runtime = runtime();
        let (store, auditor) = app_runtime.block_on(async {
            let store = open().await;
            let auditor = Auditor::builder(store.clone()).build().unwrap();
            for i in 0..EVENTS {
                auditor.record(
                    AuditEvent::builder("NEWSLETTER_SUBSCRIBED")
                        .entity("subscription", format!("{app}-{i}"))
                        .build(),
                );
            }
            (store, auditor)
        });
        drop(app_runtime);
        let started = std::time::Instant::now();
        runtime().block_on(auditor.shutdown()).unwrap();
        // Liveness, not speed: a drain stuck on a dead runtime took the 30 s acquire timeout.
        let waited = started.elapsed();
        assert!(
            waited < std::time::Duration::from_secs(15),
            "app {app}: the drain waited {waited:?}"
        );
        let metrics = auditor.metrics();
        assert_eq!(metrics.dropped, 0, "app {app}: {metrics:?}");
        stores.push(store);
    }
    runtime().block_on(async {
        for (app, store) in stores.iter().enumerate() {
            let stored = store.count(&AuditQuery::new()).await.unwrap();
            assert_eq!(stored, EVENTS as u64, "app {app}: every event stored");
            let report = store.verify(Default::default(), None).await.unwrap();
            assert!(report.is_valid(), "app {app}: {report:?}");
        }
    });
}

/// A durable record's receipt names the position the store holds the event at.
async fn durable_record_returns_the_stored_position<S>(store: S)
where
    S: AuditSink + AuditStore + Clone,
{
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    let receipt = auditor
        .record_durable(
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .actor(Actor::user("alice"))
                .entity("booking", "b-4")
                .build(),
        )
        .await
        .unwrap();
    let position = receipt.position.expect("a chained position");
    let stored = store.get(position.seq).await.unwrap().unwrap();
    assert_eq!((stored.event.id, stored.hash), (receipt.id, position.hash));
    auditor.shutdown().await.unwrap();
}

/// Events recorded without waiting are all stored, in one valid chain, after shutdown.
async fn every_recorded_event_is_stored_after_shutdown<S>(store: S)
where
    S: AuditSink + AuditStore + Clone,
{
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    for i in 0..500 {
        auditor.record(
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .entity("booking", format!("b-{i}"))
                .build(),
        );
    }
    auditor.shutdown().await.unwrap();
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 500);
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_record_durable_returns_the_stored_position() {
    let (store, _dir) = fresh_sqlite();
    durable_record_returns_the_stored_position(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_recorded_event_is_stored_in_one_valid_chain_after_shutdown() {
    let (store, _dir) = fresh_sqlite();
    every_recorded_event_is_stored_after_shutdown(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_durable_record_through_the_auditor_returns_the_stored_position() {
    let Some(url) = database_url() else { return };
    durable_record_returns_the_stored_position(fresh_pg(&url, "pipe", ChainHasher::sha256()).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_recorded_without_waiting_are_all_stored_after_shutdown() {
    let Some(url) = database_url() else { return };
    every_recorded_event_is_stored_after_shutdown(
        fresh_pg(&url, "pipebulk", ChainHasher::sha256()).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_durable_record_through_the_auditor_returns_the_stored_position() {
    let Some(url) = mysql_url() else { return };
    durable_record_returns_the_stored_position(
        fresh_mysql(&url, "pipe", ChainHasher::sha256()).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_events_recorded_without_waiting_are_all_stored_after_shutdown() {
    let Some(url) = mysql_url() else { return };
    every_recorded_event_is_stored_after_shutdown(
        fresh_mysql(&url, "pipebulk", ChainHasher::sha256()).await,
    )
    .await;
}

#[test]
fn postgres_apps_on_short_lived_runtimes_keep_every_event() {
    let Some(url) = database_url() else { return };
    apps_on_short_lived_runtimes_keep_every_event(|| fresh_pg(&url, "apps", ChainHasher::sha256()));
}

#[test]
fn mysql_apps_on_short_lived_runtimes_keep_every_event() {
    let Some(url) = mysql_url() else { return };
    apps_on_short_lived_runtimes_keep_every_event(|| {
        fresh_mysql(&url, "apps", ChainHasher::sha256())
    });
}

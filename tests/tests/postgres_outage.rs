//! A real PostgreSQL server stopped and restarted under load: callers are not held up,
//! the events recorded during the outage are spooled to disk and replayed in order once the
//! server is back, and the chain verifies. The test controls the throw-away cluster of
//! `scripts/pg.sh` (`halt` / `resume`).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditEvent, AuditStore, ChainHasher};
use audit_integration_tests::{database_url, fresh_pg};
use audit_pipeline::Auditor;

fn pg_sh(command: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");
    let status = Command::new("bash")
        .args([script, command])
        .status()
        .unwrap();
    assert!(status.success(), "pg.sh {command} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_under_load_holds_no_caller_loses_nothing_and_keeps_order() {
    let Some(url) = database_url() else { return };
    if std::env::var_os("PG_SH_DIR").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this through scripts/pg.sh, which can stop and restart the server"
        );
        eprintln!("!!!!! SKIPPED: the server was not started by scripts/pg.sh");
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let store = fresh_pg(&url, "outage", ChainHasher::sha256()).await;
    let auditor = Auditor::builder(store.clone())
        .spool_dir(spool.path())
        .build()
        .unwrap();

    // About 200 events/s on a plain thread, for the whole test.
    let total = 1_600;
    let producer = {
        let auditor = auditor.clone();
        std::thread::spawn(move || {
            let mut longest = Duration::ZERO;
            for i in 0..total {
                let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
                    .entity("booking", format!("{i:05}"))
                    .build();
                let started = Instant::now();
                auditor.record(event);
                longest = longest.max(started.elapsed());
                std::thread::sleep(Duration::from_millis(5));
            }
            longest
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::spawn_blocking(|| pg_sh("halt")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during = auditor.metrics();
    tokio::task::spawn_blocking(|| pg_sh("resume"))
        .await
        .unwrap();
    let resumed = Instant::now();
    let longest = tokio::task::spawn_blocking(move || producer.join().unwrap())
        .await
        .unwrap();
    auditor.shutdown().await.unwrap();
    eprintln!(
        "outage of 6 s: drained {:?} after the server came back",
        resumed.elapsed()
    );

    // Liveness, not speed: a caller held for the outage would have waited seconds.
    assert!(
        longest < Duration::from_millis(500),
        "a record() call waited {longest:?}"
    );
    assert!(during.spooled > 0, "the outage was spooled: {during:?}");
    let mut ids: Vec<String> = Vec::new();
    let mut query = AuditQuery::new().order(Order::OldestFirst).limit(1_000);
    loop {
        let page = store.query(&query).await.unwrap();
        ids.extend(page.events.iter().filter_map(|s| s.event.entity_id.clone()));
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => break,
        }
    }
    let expected: Vec<String> = (0..total).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids.len(), expected.len(), "every event stored once");
    assert!(ids == expected, "stored in the order recorded");
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
}

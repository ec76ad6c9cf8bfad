//! Read auditing into real stores: reads of a sensitive record recorded under the request's
//! context with category `access`, de-duplicated per actor and record as documented (the
//! held-back count written on the next event and by flush), queryable by category.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use audit_core::query::{AuditQuery, Order};
use audit_core::reads::{self, READ_FILTER_KEY, ReadFilter};
use audit_core::{Actor, AuditContext, AuditSink, AuditStore, Category, ChainHasher};
use audit_integration_tests::{database_url, fresh_mysql, fresh_pg, fresh_sqlite, mysql_url};
use audit_pipeline::Auditor;

async fn reads_are_recorded_once_per_window_with_their_count<S>(store: S)
where
    S: AuditSink + AuditStore + Clone,
{
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    let filter = ReadFilter::new().dedup_window(Duration::from_secs(300));
    let t0 = Instant::now();
    let ctx = AuditContext::new()
        .actor(Actor::user("dr-who"))
        .request_id("req-7");
    auditor
        .scope(ctx.scope(async {
            // Ten reads of one chart within the window, then one after it.
            for i in 0..10 {
                let read = reads::record_read("patient", "p-7").build();
                if let Some(event) = filter.admit_at(read, t0 + Duration::from_secs(i)) {
                    audit_core::record_async(event).await;
                }
            }
            let later = reads::record_read("patient", "p-7").build();
            let event = filter
                .admit_at(later, t0 + Duration::from_secs(400))
                .unwrap();
            audit_core::record_async(event).await;
            // A read of another chart, held back at shutdown: flushed, never silent.
            let other = reads::record_read("patient", "p-8").build();
            let first = filter.admit_at(other, t0).unwrap();
            audit_core::record_async(first).await;
            let again = reads::record_read("patient", "p-8").build();
            assert!(
                filter
                    .admit_at(again, t0 + Duration::from_secs(1))
                    .is_none()
            );
            for event in filter.flush() {
                audit_core::record_async(event).await;
            }
        }))
        .await;
    auditor.shutdown().await.unwrap();

    let access = store
        .query(
            &AuditQuery::new()
                .category(Category::Access)
                .order(Order::OldestFirst),
        )
        .await
        .unwrap()
        .events;
    let actions: Vec<&str> = access.iter().map(|r| r.event.action.as_ref()).collect();
    assert_eq!(
        actions,
        [
            "ACCESS_RECORD_READ",
            "ACCESS_RECORD_READ",
            "ACCESS_RECORD_READ",
            "ACCESS_READS_SUPPRESSED"
        ]
    );
    let first = &access[0].event;
    assert_eq!(first.actor.as_ref().map(|a| a.id.as_str()), Some("dr-who"));
    assert_eq!(first.request_id.as_deref(), Some("req-7"));
    assert_eq!(first.entity_id.as_deref(), Some("p-7"));
    assert_eq!(
        access[1].event.metadata[READ_FILTER_KEY]["held_in_previous_window"],
        9
    );
    assert_eq!(access[2].event.entity_id.as_deref(), Some("p-8"));
    assert_eq!(access[3].event.entity_id.as_deref(), Some("p-8"));
    assert_eq!(access[3].event.metadata["reads"], 1);
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sqlite() {
    let (store, _dir) = fresh_sqlite();
    reads_are_recorded_once_per_window_with_their_count(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_postgres() {
    let Some(url) = database_url() else { return };
    reads_are_recorded_once_per_window_with_their_count(
        fresh_pg(&url, "reads", ChainHasher::sha256()).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_mysql() {
    let Some(url) = mysql_url() else { return };
    reads_are_recorded_once_per_window_with_their_count(
        fresh_mysql(&url, "reads", ChainHasher::sha256()).await,
    )
    .await;
}

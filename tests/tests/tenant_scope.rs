//! A tenant-scoped handle (`store.for_tenant(..)`) never returns another tenant's events,
//! whatever it is asked: a filter naming the other tenant, a request id both tenants used,
//! a cursor taken from the other tenant's pages, the other tenant's seqs. On SQLite,
//! PostgreSQL, MariaDB and the in-memory store.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::query::{AuditQuery, CountBy, Order};
use audit_core::tenant::TenantScope;
use audit_core::{Actor, AuditEvent, AuditSink, AuditStore, ChainHasher, StoredEvent};
use audit_integration_tests::{database_url, fresh_mysql, fresh_pg, fresh_sqlite, mysql_url};

/// 60 events: tenants acme and globex interleaved, request ids shared across tenants, the
/// same actors in both, a third of them with no tenant at all.
fn events() -> Vec<AuditEvent> {
    (0..60)
        .map(|i| {
            let b = AuditEvent::builder("INVOICE_SENT")
                .actor(Actor::user(["alice", "bob"][i % 2]))
                .entity("invoice", format!("inv-{}", i % 5))
                .request_id(format!("r-{}", i % 4));
            match i % 3 {
                0 => b.tenant("acme"),
                1 => b.tenant("globex"),
                _ => b,
            }
            .build()
        })
        .collect()
}

/// Every record `store` gives for `query`, following cursors.
async fn all(store: &impl AuditStore, query: AuditQuery) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut q = query.limit(7);
    loop {
        let page = store.query(&q).await.unwrap();
        out.extend(page.events);
        match page.next {
            Some(cursor) => q = q.after(cursor),
            None => return out,
        }
    }
}

fn only_acme(records: &[StoredEvent]) {
    for r in records {
        assert_eq!(r.event.tenant.as_deref(), Some("acme"), "seq {}", r.seq);
    }
}

async fn a_tenant_sees_only_its_own_events<S: AuditStore + AuditSink + Clone>(store: S) {
    store.write(&events()).await.unwrap();
    let acme = store.clone().for_tenant("acme");

    let mine = all(&acme, AuditQuery::new()).await;
    assert_eq!(mine.len(), 20);
    only_acme(&mine);
    // Asking for the other tenant, by filter, gets nothing.
    assert!(
        all(&acme, AuditQuery::new().tenant("globex"))
            .await
            .is_empty()
    );
    assert_eq!(
        acme.count(&AuditQuery::new().tenant("globex"))
            .await
            .unwrap(),
        0
    );
    assert!(
        acme.count_by(&AuditQuery::new().tenant("globex"), CountBy::Actor)
            .await
            .unwrap()
            .is_empty()
    );
    // A request id both tenants used: only acme's events.
    let shared = all(&acme, AuditQuery::new().request_id("r-1")).await;
    assert!(!shared.is_empty());
    only_acme(&shared);
    // Every other filter still narrows within acme.
    for query in [
        AuditQuery::new().actor("alice"),
        AuditQuery::new().entity_type("invoice").entity_id("inv-3"),
        AuditQuery::new()
            .action("INVOICE_SENT")
            .order(Order::OldestFirst),
        AuditQuery::new().action_prefix("INV"),
    ] {
        only_acme(&all(&acme, query).await);
    }
    // A cursor from globex's pages, used on acme's handle, pages through acme's events.
    let globex = store.clone().for_tenant("globex");
    let page = globex.query(&AuditQuery::new().limit(3)).await.unwrap();
    let cursor = page.next.unwrap();
    let after = all(&acme, AuditQuery::new().after(cursor)).await;
    assert!(!after.is_empty());
    only_acme(&after);
    // Another tenant's seq (or an untenanted one) is not there.
    let everything = all(&store, AuditQuery::new()).await;
    for record in &everything {
        let seen = acme.get(record.seq).await.unwrap();
        assert_eq!(
            seen.is_some(),
            record.event.tenant.as_deref() == Some("acme"),
            "seq {}",
            record.seq
        );
    }
    // Counts agree with the pages, and grouped counts sum to them.
    assert_eq!(acme.count(&AuditQuery::new()).await.unwrap(), 20);
    let by_actor = acme
        .count_by(&AuditQuery::new(), CountBy::Actor)
        .await
        .unwrap();
    assert_eq!(by_actor.iter().map(|g| g.count).sum::<u64>(), 20);
    // The shared chain is the operator's to verify; the head is acme's newest event.
    assert!(matches!(
        acme.verify(Default::default(), None).await,
        Err(audit_core::StoreError::Tenant(
            audit_core::store::TenantRefusal::SharedLog { .. }
        ))
    ));
    let newest = mine.iter().map(|r| r.seq).max().unwrap();
    assert_eq!(acme.head().await.unwrap().map(|h| h.seq), Some(newest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_memory_store() {
    a_tenant_sees_only_its_own_events(audit_core::sinks::MemorySink::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sqlite() {
    let (store, _dir) = fresh_sqlite();
    a_tenant_sees_only_its_own_events(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_postgres() {
    let Some(url) = database_url() else { return };
    a_tenant_sees_only_its_own_events(fresh_pg(&url, "tenant", ChainHasher::sha256()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_mysql() {
    let Some(url) = mysql_url() else { return };
    a_tenant_sees_only_its_own_events(fresh_mysql(&url, "tenant", ChainHasher::sha256()).await)
        .await;
}

//! A dashboard over `store.for_tenant("acme")` shows acme's events only, on every page,
//! whatever the URL asks for: another tenant in the query string, a request id both tenants
//! used, a cursor taken from another tenant's dashboard, another tenant's seqs. On a SQLite
//! file, PostgreSQL and MariaDB.

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use audit_core::sinks::MemorySink;
use audit_core::tenant::TenantScope;
use audit_core::{Actor, AuditEvent, AuditSink, AuditStore, ChainHasher, StoredEvent};
use audit_integration_tests::{database_url, fresh_mysql, fresh_pg, fresh_sqlite, mysql_url};
use audit_pipeline::Auditor;
use axum::Router;
use axum::body::Body;
use http::Request;
use support::{get, send};

/// 60 events: acme, globex and no tenant in turn; the same actors, entities and request
/// ids in all three; each description names its tenant, so a leak shows in any page.
fn events() -> Vec<AuditEvent> {
    (0..60)
        .map(|i| {
            let tenant = ["acme", "globex", ""][i % 3];
            let b = AuditEvent::builder("INVOICE_SENT")
                .actor(Actor::user(["alice", "bob"][i % 2]))
                .entity("invoice", format!("inv-{}", i % 5))
                .request_id(format!("r-{}", i % 4))
                .description(format!(
                    "{}-secret-{i}",
                    ["acme", "globex", "untenanted"][i % 3]
                ));
            if tenant.is_empty() {
                b
            } else {
                b.tenant(tenant)
            }
            .build()
        })
        .collect()
}

/// The dashboard over `store` (a tenant's view), recording its own views elsewhere so the
/// log stays as written.
fn dashboard(store: impl AuditStore) -> Router {
    support::app(
        Arc::new(store),
        Auditor::builder(MemorySink::new()).build().unwrap(),
    )
}

/// Every event a page links to.
fn linked_seqs(body: &str) -> BTreeSet<u64> {
    body.split("/admin/audit/events/")
        .skip(1)
        .filter_map(|s| {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

fn link(body: &str, rel: &str) -> Option<String> {
    let marker = format!("<a rel=\"{rel}\" href=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

fn assert_only_acme(uri: &str, body: &str, acme: &BTreeSet<u64>) {
    let shown = linked_seqs(body);
    assert!(
        shown.is_subset(acme),
        "{uri} shows {:?}",
        shown.difference(acme)
    );
    for leak in ["globex-secret", "untenanted-secret"] {
        assert!(!body.contains(leak), "{uri} shows {leak}");
    }
}

async fn a_tenant_dashboard_shows_only_that_tenant<S>(store: S)
where
    S: AuditStore + AuditSink + Clone,
{
    store.write(&events()).await.unwrap();
    let all = store
        .query(&audit_core::AuditQuery::new().limit(100))
        .await
        .unwrap()
        .events;
    let of = |t: Option<&str>| -> BTreeSet<u64> {
        all.iter()
            .filter(|r| r.event.tenant.as_deref() == t)
            .map(|r| r.seq)
            .collect()
    };
    let (acme_seqs, globex_seqs, untenanted) = (of(Some("acme")), of(Some("globex")), of(None));
    let acme = dashboard(store.clone().for_tenant("acme"));
    let globex = dashboard(store.clone().for_tenant("globex"));

    // The event list: every acme event, nothing else.
    let (status, _, body) = get(&acme, Some("admin"), "/admin/audit/events?limit=100").await;
    assert_eq!(status, 200);
    assert_eq!(linked_seqs(&body), acme_seqs);

    // Query strings that ask for more.
    for uri in [
        "/admin/audit/events?tenant=globex",
        "/admin/audit/events?tenant=globex&tenant=acme&limit=100",
        "/admin/audit/events?request_id=r-1&limit=100",
        "/admin/audit/events?actor=bob&entity_type=invoice&entity_id=inv-2",
        "/admin/audit/events?text=secret-1&limit=100",
        "/admin/audit/events?text=secret&order=oldest&limit=100",
        "/admin/audit/events?after=c1.ffffffff",
        "/admin/audit/events?before=c1.0",
        "/admin/audit/events?after=c1.1%00globex",
        "/admin/audit/actor?id=bob",
        "/admin/audit/entity?type=invoice&id=inv-1",
        "/admin/audit/live/feed?after=0",
        "/admin/audit/live",
        "/admin/audit",
        "/admin/audit?range=30d",
        "/admin/audit/export?format=csv&tenant=globex",
    ] {
        let (status, _, body) = get(&acme, Some("admin"), uri).await;
        assert!(status == 200 || status == 400, "{uri}: {status}");
        assert_only_acme(uri, &body, &acme_seqs);
    }
    // A request id both tenants used: acme's events of it, all of them.
    let (_, _, body) = get(
        &acme,
        Some("admin"),
        "/admin/audit/events?request_id=r-1&limit=100",
    )
    .await;
    let r1: BTreeSet<u64> = all
        .iter()
        .filter(|r| {
            r.event.tenant.as_deref() == Some("acme")
                && r.event.request_id.as_deref() == Some("r-1")
        })
        .map(|r| r.seq)
        .collect();
    assert!(!r1.is_empty());
    assert_eq!(linked_seqs(&body), r1);

    // A cursor from globex's pages, on acme's dashboard: acme's events after that point.
    let (_, _, page) = get(&globex, Some("admin"), "/admin/audit/events?limit=5").await;
    let next = link(&page, "next").expect("globex has a second page");
    assert!(linked_seqs(&page).is_subset(&globex_seqs));
    let (status, _, body) = get(&acme, Some("admin"), &next).await;
    assert_eq!(status, 200);
    assert_only_acme(&next, &body, &acme_seqs);
    assert!(!linked_seqs(&body).is_empty());

    // Another tenant's seq, or one without a tenant, is no page of acme's.
    for seq in globex_seqs.iter().chain(&untenanted).take(10) {
        let uri = format!("/admin/audit/events/{seq}");
        let (status, _, body) = get(&acme, Some("admin"), &uri).await;
        assert_eq!(status, 404, "{uri}");
        assert_only_acme(&uri, &body, &acme_seqs);
    }
    // An acme event's page links to acme's neighbours, not to the seqs next to it.
    let middle = *acme_seqs.iter().nth(5).unwrap();
    let (status, _, body) = get(
        &acme,
        Some("admin"),
        &format!("/admin/audit/events/{middle}"),
    )
    .await;
    assert_eq!(status, 200);
    let before = acme_seqs.range(..middle).next_back().copied();
    let after = acme_seqs.range(middle + 1..).next().copied();
    assert_eq!(
        link(&body, "prev"),
        before.map(|s| format!("/admin/audit/events/{s}"))
    );
    assert_eq!(
        link(&body, "next"),
        after.map(|s| format!("/admin/audit/events/{s}"))
    );
    assert_only_acme("an acme event", &body, &acme_seqs);

    // Exports hold acme's records only, all of them.
    let (status, _, body) = get(
        &acme,
        Some("admin"),
        "/admin/audit/export?format=jsonl&tenant=globex",
    )
    .await;
    assert_eq!(status, 200);
    let exported: Vec<StoredEvent> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        exported.iter().map(|r| r.seq).collect::<BTreeSet<_>>(),
        acme_seqs
    );
    assert!(
        exported
            .iter()
            .all(|r| r.event.tenant.as_deref() == Some("acme"))
    );

    // The overview counts acme's events, and its newest is acme's.
    let newest = *acme_seqs.last().unwrap();
    let (_, _, overview) = get(&acme, Some("admin"), "/admin/audit?range=30d").await;
    assert!(
        overview.contains(&format!(
            "<a href=\"/admin/audit/events/{newest}\">{newest}</a>"
        )),
        "the newest acme event is shown"
    );

    // The shared chain is not the tenant's to verify: the run says so, finding no fault.
    let (_, _, verify) = get(&acme, Some("admin"), "/admin/audit/verify").await;
    let csrf = {
        let marker = "name=\"csrf\" value=\"";
        let start = verify.find(marker).unwrap() + marker.len();
        verify[start..start + 64].to_owned()
    };
    let started = send(
        &acme,
        Some("admin"),
        Request::post("/admin/audit/verify/run")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("scope=all&csrf={csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(started.status(), 303);
    let mut last = serde_json::Value::Null;
    for _ in 0..500 {
        let (_, _, body) = get(&acme, Some("admin"), "/admin/audit/verify/status").await;
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        if status["running"].is_null() && !status["last"].is_null() {
            last = status["last"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last["valid"], false, "{last}");
    let summary = last["summary"].as_str().unwrap();
    assert!(
        summary.contains("cannot verify the shared chain"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_dashboard_over_sqlite_shows_only_that_tenant() {
    let (store, _dir) = fresh_sqlite();
    a_tenant_dashboard_shows_only_that_tenant(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_dashboard_over_postgres_shows_only_that_tenant() {
    let Some(url) = database_url() else { return };
    let store = fresh_pg(&url, "dash_tenant", ChainHasher::sha256()).await;
    a_tenant_dashboard_shows_only_that_tenant(store.clone()).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_dashboard_over_mariadb_shows_only_that_tenant() {
    let Some(url) = mysql_url() else { return };
    let store = fresh_mysql(&url, "dash_tenant", ChainHasher::sha256()).await;
    a_tenant_dashboard_shows_only_that_tenant(store.clone()).await;
    store.close().await;
}

//! The dashboard served in-process over a real SQLite file (and the memory store for
//! tampering): status codes, headers, access control, what is recorded, paging, exports
//! and verification.

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use audit_core::query::{AuditQuery, Order};
use audit_core::sinks::MemorySink;
use audit_core::{Actor, AuditEvent, AuditStore, Outcome};
use audit_dashboard::codes;
use audit_pipeline::Auditor;
use audit_sqlite::SqliteStore;
use axum::body::Body;
use http::Request;
use support::{app, get, send};

struct Fixture {
    store: SqliteStore,
    auditor: Auditor,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

/// `n` events: actors alice/bob/carol in turn, every third denied, entity ids b-0..
async fn fixture(n: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    let events: Vec<_> = (0..n)
        .map(|i| {
            let actor = ["alice", "bob", "carol"][i % 3];
            let b = AuditEvent::builder("FTMS_BOOKING_CREATED")
                .actor(Actor::user(actor))
                .entity("booking", format!("b-{i}"))
                .description(format!("booking {i} by {actor}"));
            if i % 3 == 1 { b.denied("no seats") } else { b }.build()
        })
        .collect();
    if !events.is_empty() {
        store.append(&events).await.unwrap();
    }
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    let app = app(Arc::new(store.clone()), auditor.clone());
    Fixture {
        store,
        auditor,
        app,
        _dir: dir,
    }
}

async fn recorded(f: &Fixture, action: &str) -> Vec<audit_core::StoredEvent> {
    f.auditor.flush().await.unwrap();
    f.store
        .query(&AuditQuery::new().action(action).limit(100))
        .await
        .unwrap()
        .events
}

#[tokio::test]
async fn every_page_carries_the_strict_security_headers() {
    let f = fixture(5).await;
    for page in [
        "/admin/audit",
        "/admin/audit/events",
        "/admin/audit/events/1",
        "/admin/audit/actor?id=alice",
        "/admin/audit/entity?type=booking&id=b-1",
        "/admin/audit/live",
        "/admin/audit/verify",
        "/admin/audit/nope",
    ] {
        let (status, headers, _) = get(&f.app, Some("admin"), page).await;
        assert!(
            status == 200 || (page.ends_with("nope") && status == 404),
            "{page}: {status}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn pages_hold_no_inline_script_or_style() {
    let f = fixture(5).await;
    for page in [
        "/admin/audit",
        "/admin/audit/events",
        "/admin/audit/verify",
        "/admin/audit/live",
    ] {
        let (_, _, body) = get(&f.app, Some("admin"), page).await;
        assert!(!body.contains("style="), "{page} has a style attribute");
        assert!(!body.contains("<style"), "{page} has a style element");
        for script in body.split("<script").skip(1) {
            assert!(
                script.trim_start().starts_with("src="),
                "{page} has an inline script"
            );
        }
        assert!(
            !has_event_handler(&body),
            "{page} carries an event handler attribute"
        );
    }
}

#[tokio::test]
async fn a_viewer_without_audit_read_gets_403_and_the_denial_is_recorded() {
    let f = fixture(3).await;
    let (status, _, body) = get(&f.app, Some("clerk"), "/admin/audit/events").await;
    assert_eq!(status, 403);
    assert!(body.contains("audit:read"));
    let denials = recorded(&f, "authz_fail").await;
    assert_eq!(
        denials.len(),
        1,
        "one denial, not a second one from the host's layer"
    );
    let e = &denials[0].event;
    assert_eq!(e.outcome, Outcome::Denied);
    assert_eq!(e.actor.as_ref().unwrap().id, "clerk");
    assert_eq!(e.metadata["permission"], "audit:read");
    assert_eq!(e.metadata["roles"][0], "clerk-role");
    assert_eq!(e.metadata["path"], "/admin/audit/events");
    assert_eq!(e.ip, Some("127.0.0.1".parse().unwrap()));
}

#[tokio::test]
async fn an_anonymous_request_gets_401_with_a_sign_in_link_and_is_recorded() {
    let f = fixture(1).await;
    let (status, _, body) = get(&f.app, None, "/admin/audit").await;
    assert_eq!(status, 401);
    assert!(body.contains("href=\"/signin\""));
    let events = recorded(&f, "authn_request_unauthenticated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.metadata["permission"], "audit:read");
}

#[tokio::test]
async fn the_mount_path_with_a_trailing_slash_redirects_to_the_overview() {
    let f = fixture(2).await;
    let (status, headers, body) = get(&f.app, Some("auditor"), "/admin/audit/?range=7d").await;
    assert_eq!(status, 308, "{body}");
    assert_eq!(headers[http::header::LOCATION], "/admin/audit?range=7d");
    let (status, _, body) = get(&f.app, Some("auditor"), "/admin/audit?range=7d").await;
    assert_eq!(status, 200);
    assert!(body.contains("<h1><bdi>Overview"), "{body}");
}

#[tokio::test]
async fn the_layout_posts_to_the_hosts_sign_out_url() {
    let f = fixture(1).await;
    for uri in ["/admin/audit", "/admin/audit/events", "/admin/audit/verify"] {
        let (status, _, body) = get(&f.app, Some("auditor"), uri).await;
        assert_eq!(status, 200, "{uri}");
        assert!(
            body.contains(r#"<form class="signout" method="post" action="/signout">"#),
            "{uri}: {body}"
        );
    }
    // Nobody signed in: nothing to sign out of.
    let (_, _, body) = get(&f.app, None, "/admin/audit").await;
    assert!(!body.contains("signout"), "{body}");
}

#[tokio::test]
async fn without_a_sign_out_url_the_layout_has_no_sign_out() {
    let dashboard =
        audit_dashboard::Dashboard::new(MemorySink::new(), audit_dashboard::PrincipalAccess::new())
            .router();
    let host = axum::Router::new()
        .nest("/audit", dashboard)
        .layer(axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                req.extensions_mut()
                    .insert(support::principal("auditor").unwrap());
                next.run(req).await
            },
        ));
    let (status, _, body) = get(&host, None, "/audit").await;
    assert_eq!(status, 200);
    assert!(body.contains("signed in as"), "{body}");
    assert!(!body.contains("signout"), "{body}");
}

#[tokio::test]
async fn a_page_view_is_recorded_with_the_viewer_and_the_filter() {
    let f = fixture(3).await;
    let (status, _, _) = get(
        &f.app,
        Some("auditor"),
        "/admin/audit/events?actor=bob&outcome=denied",
    )
    .await;
    assert_eq!(status, 200);
    let views = recorded(&f, codes::AUDIT_LOG_VIEWED).await;
    assert_eq!(views.len(), 1);
    let e = &views[0].event;
    assert_eq!(e.actor.as_ref().unwrap().id, "auditor");
    assert_eq!(e.session_id.as_deref(), Some("session-of-auditor"));
    assert_eq!(e.metadata["page"], "events");
    assert_eq!(e.metadata["filter"]["actor"], "bob");
    assert_eq!(e.metadata["filter"]["outcome"], "denied");
    assert!(e.request_id.is_some());
}

#[tokio::test]
async fn the_filter_shows_exactly_the_matching_events() {
    let f = fixture(30).await;
    let (_, _, body) = get(
        &f.app,
        Some("admin"),
        "/admin/audit/events?actor=bob&outcome=denied",
    )
    .await;
    let want = f
        .store
        .query(
            &AuditQuery::new()
                .actor("bob")
                .outcome(Outcome::Denied)
                .limit(50),
        )
        .await
        .unwrap();
    assert_eq!(want.events.len(), 10);
    assert_eq!(body.matches("<tr class=\"event\">").count(), 10);
    for r in &want.events {
        assert!(body.contains(&format!("href=\"/admin/audit/events/{}\"", r.seq)));
    }
}

/// Whether any tag carries an `on…=` attribute.
fn has_event_handler(body: &str) -> bool {
    body.split('<').skip(1).any(|tag| {
        let tag = tag.split('>').next().unwrap_or("");
        tag.split_whitespace().skip(1).any(|attr| {
            attr.starts_with("on")
                && attr.contains('=')
                && attr[2..]
                    .split('=')
                    .next()
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_lowercase()))
        })
    })
}

fn links(body: &str, rel: &str) -> Option<String> {
    let marker = format!("<a rel=\"{rel}\" href=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

fn seqs(body: &str) -> Vec<u64> {
    body.split("<td class=\"c-seq\"><a href=\"/admin/audit/events/")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn paging_forward_then_back_returns_the_same_pages() {
    let f = fixture(23).await;
    // The booking events only: each page view is itself recorded into the same log.
    let get_page = |uri: String| {
        let app = f.app.clone();
        async move { get(&app, Some("admin"), &uri).await.2 }
    };
    let a = get_page("/admin/audit/events?action=FTMS_BOOKING_CREATED&limit=10".into()).await;
    assert_eq!(seqs(&a), (14..=23).rev().collect::<Vec<_>>());
    assert!(links(&a, "prev").is_none());
    let b = get_page(links(&a, "next").unwrap()).await;
    assert_eq!(seqs(&b), (4..=13).rev().collect::<Vec<_>>());
    let c = get_page(links(&b, "next").unwrap()).await;
    assert_eq!(seqs(&c), vec![3, 2, 1]);
    assert!(links(&c, "next").is_none());
    let back_b = get_page(links(&c, "prev").unwrap()).await;
    assert_eq!(seqs(&back_b), seqs(&b));
    let back_a = get_page(links(&back_b, "prev").unwrap()).await;
    assert_eq!(seqs(&back_a), seqs(&a));
    assert!(links(&back_a, "prev").is_none());
    let oldest =
        get_page("/admin/audit/events?action=FTMS_BOOKING_CREATED&limit=10&order=oldest".into())
            .await;
    assert_eq!(seqs(&oldest), (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_bad_filter_is_a_400_naming_the_field() {
    let f = fixture(1).await;
    let (status, _, body) = get(&f.app, Some("admin"), "/admin/audit/events?ip=nonsense").await;
    assert_eq!(status, 400);
    assert!(body.contains("ip: expected an IP address or a CIDR network"));
}

#[tokio::test]
async fn hostile_text_is_escaped_on_every_page() {
    let f = fixture(0).await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'";
    f.store
        .append(&[AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user(evil))
            .entity("booking", evil)
            .description(evil)
            .user_agent(evil)
            .metadata(serde_json::json!({ evil: evil }))
            .build()])
        .await
        .unwrap();
    let actor = serde_urlencoded::to_string([("id", evil)]).unwrap();
    for page in [
        "/admin/audit/events".to_owned(),
        "/admin/audit/events/1".to_owned(),
        format!("/admin/audit/actor?{actor}"),
        "/admin/audit/live".to_owned(),
        "/admin/audit?range=24h".to_owned(),
    ] {
        // Let the overview count it first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, _, body) = get(&f.app, Some("admin"), &page).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            !body.contains("<script>alert"),
            "{page} let a script tag through"
        );
        assert!(
            !body.contains("<img src=x"),
            "{page} let an img tag through"
        );
    }
}

#[tokio::test]
async fn a_csv_export_streams_every_matching_row_and_is_recorded() {
    let f = fixture(2500).await;
    let response = send(
        &f.app,
        Some("admin"),
        Request::get("/admin/audit/export?format=csv&outcome=denied")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let mut reader = csv::Reader::from_reader(&body[..]);
    let seqs: Vec<u64> = reader
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect();
    let want = f
        .store
        .count(&AuditQuery::new().outcome(Outcome::Denied))
        .await
        .unwrap();
    assert_eq!(seqs.len() as u64, want);
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    // The export is recorded when the stream ends.
    let mut exports = Vec::new();
    for _ in 0..100 {
        exports = recorded(&f, codes::AUDIT_LOG_EXPORTED).await;
        if !exports.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e = &exports[0].event;
    assert_eq!(e.metadata["format"], "csv");
    assert_eq!(e.metadata["rows"], want);
    assert_eq!(e.metadata["complete"], true);
    assert_eq!(e.metadata["filter"]["outcome"], "denied");
    assert_eq!(e.actor.as_ref().unwrap().id, "admin");
}

#[tokio::test]
async fn a_json_lines_export_round_trips_the_stored_records() {
    let f = fixture(40).await;
    let (status, headers, body) = get(
        &f.app,
        Some("admin"),
        "/admin/audit/export?format=jsonl&actor=carol&order=oldest",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let got: Vec<audit_core::StoredEvent> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want = f
        .store
        .query(
            &AuditQuery::new()
                .actor("carol")
                .order(Order::OldestFirst)
                .limit(100),
        )
        .await
        .unwrap()
        .events;
    assert_eq!(got, want);
}

#[tokio::test]
async fn exporting_needs_audit_export() {
    let f = fixture(3).await;
    let (status, _, _) = get(&f.app, Some("auditor"), "/admin/audit/export?format=csv").await;
    assert_eq!(status, 403);
    let denials = recorded(&f, "authz_fail").await;
    assert_eq!(denials[0].event.metadata["permission"], "audit:export");
    // And the events page offers no export button to such a viewer.
    let (_, _, body) = get(&f.app, Some("auditor"), "/admin/audit/events").await;
    assert!(!body.contains("/admin/audit/export"));
}

fn csrf_token(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).unwrap() + marker.len();
    body[start..start + 64].to_owned()
}

fn post_form(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

async fn wait_for_verdict(app: &axum::Router) -> serde_json::Value {
    for _ in 0..500 {
        let (_, _, body) = get(app, Some("admin"), "/admin/audit/verify/status").await;
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        if status["running"].is_null() && !status["last"].is_null() {
            return status["last"].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("verification did not finish");
}

#[tokio::test]
async fn a_verification_starts_only_with_a_valid_csrf_token() {
    let f = fixture(30).await;
    let refused = send(
        &f.app,
        Some("admin"),
        post_form("/admin/audit/verify/run", "scope=all"),
    )
    .await;
    assert_eq!(refused.status(), 403);
    let forged = send(
        &f.app,
        Some("admin"),
        post_form(
            "/admin/audit/verify/run",
            &format!("scope=all&csrf={}", "ab".repeat(32)),
        ),
    )
    .await;
    assert_eq!(forged.status(), 403);
    let (_, _, page) = get(&f.app, Some("admin"), "/admin/audit/verify").await;
    let mut cross_site = post_form(
        "/admin/audit/verify/run",
        &format!("scope=all&csrf={}", csrf_token(&page)),
    );
    cross_site
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(send(&f.app, Some("admin"), cross_site).await.status(), 403);
    let (_, _, status) = get(&f.app, Some("admin"), "/admin/audit/verify/status").await;
    assert!(status.contains("\"last\":null"), "nothing ran: {status}");

    let started = send(
        &f.app,
        Some("admin"),
        post_form(
            "/admin/audit/verify/run",
            &format!("scope=all&csrf={}", csrf_token(&page)),
        ),
    )
    .await;
    assert_eq!(started.status(), 303);
    let last = wait_for_verdict(&f.app).await;
    assert_eq!(last["valid"], true);
    // The 30 events, and the views and denials this test recorded before the run.
    let summary = last["summary"].as_str().unwrap();
    assert!(summary.starts_with("valid: "), "{summary}");
    let (_, _, overview) = get(&f.app, Some("admin"), "/admin/audit").await;
    assert!(overview.contains(&format!("Last verification: {summary}")));
    let recorded = recorded(&f, codes::AUDIT_CHAIN_VERIFIED).await;
    assert_eq!(recorded[0].event.actor.as_ref().unwrap().id, "admin");
}

#[tokio::test]
async fn a_viewer_without_audit_verify_cannot_start_one() {
    let f = fixture(3).await;
    let (_, _, page) = get(&f.app, Some("auditor"), "/admin/audit/verify").await;
    assert!(!page.contains("name=\"csrf\""), "no form offered");
    let response = send(
        &f.app,
        Some("auditor"),
        post_form("/admin/audit/verify/run", "scope=all"),
    )
    .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn no_get_request_changes_state() {
    let f = fixture(3).await;
    let (status, _, _) = get(&f.app, Some("admin"), "/admin/audit/verify/run").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_tampered_record_is_named_by_seq_and_kind_over_chunked_runs() {
    let sink = MemorySink::new();
    let events: Vec<_> = (0..40)
        .map(|i| AuditEvent::builder("A").description(format!("{i}")).build())
        .collect();
    audit_core::AuditSink::write(&sink, &events).await.unwrap();
    sink.tamper_modify(23, |r| r.event.description = Some("edited".into()));
    let auditor = Auditor::builder(MemorySink::new()).build().unwrap();
    let app = support::app(Arc::new(sink), auditor);
    let (_, _, page) = get(&app, Some("admin"), "/admin/audit/verify").await;
    let started = send(
        &app,
        Some("admin"),
        post_form(
            "/admin/audit/verify/run",
            &format!("scope=all&csrf={}", csrf_token(&page)),
        ),
    )
    .await;
    assert_eq!(started.status(), 303);
    let last = wait_for_verdict(&app).await;
    assert_eq!(last["valid"], false);
    assert_eq!(
        last["summary"],
        "modified record at seq 23 (22 verified before it)"
    );
    let (_, _, page) = get(&app, Some("admin"), "/admin/audit/verify").await;
    assert!(page.contains("href=\"/admin/audit/events/23\""));
}

#[tokio::test]
async fn the_overview_counts_match_the_store() {
    let f = fixture(60).await;
    let (status, _, body) = get(&f.app, Some("admin"), "/admin/audit?range=24h").await;
    assert_eq!(status, 200);
    let denied = f
        .store
        .count(&AuditQuery::new().outcome(Outcome::Denied))
        .await
        .unwrap();
    assert_eq!(denied, 20);
    assert!(
        body.contains(
            "<span class=\"figure\">60</span><span class=\"label\">events, last 24 hours"
        )
    );
    assert!(body.contains(&format!(
        "<span class=\"figure\">{denied}</span><span class=\"label\">denials"
    )));
    assert!(body.contains(">alice</bdi></a></th><td>20</td>"));
    let (status, _, _) = get(&f.app, Some("admin"), "/admin/audit?range=1y").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_live_feed_returns_events_after_a_seq() {
    let f = fixture(10).await;
    let (status, _, body) = get(&f.app, Some("admin"), "/admin/audit/live/feed?after=7").await;
    assert_eq!(status, 200);
    let feed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let seqs: Vec<u64> = feed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![8, 9, 10]);
    assert_eq!(feed["last"], 10);
}

#[tokio::test]
async fn static_assets_are_served_with_their_types() {
    let f = fixture(0).await;
    let (status, headers, body) = get(&f.app, None, "/admin/audit/static/dashboard.css").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert!(body.contains("table-layout: fixed"));
    let (status, headers, _) = get(&f.app, None, "/admin/audit/static/dashboard.js").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(
        get(&f.app, None, "/admin/audit/static/../Cargo.toml")
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn excel_and_pdf_reports_of_the_filter_download_when_enabled() {
    let f = fixture(300).await;
    // Without `Dashboard::reports` the formats are neither offered nor served.
    let (_, _, page) = get(&f.app, Some("admin"), "/admin/audit/events").await;
    assert!(!page.contains("format=xlsx"), "not offered");
    let (status, _, _) = get(&f.app, Some("admin"), "/admin/audit/export?format=xlsx").await;
    assert_eq!(status, 400);

    let hasher = f.store.hasher().clone();
    let app = support::app_with(Arc::new(f.store.clone()), f.auditor.clone(), |d| {
        d.reports(&hasher)
    });
    let (_, _, page) = get(&app, Some("admin"), "/admin/audit/events?outcome=denied").await;
    assert!(
        page.contains("format=xlsx") && page.contains("format=pdf"),
        "offered"
    );
    let body = |uri: &'static str| {
        let app = app.clone();
        async move {
            let response = send(
                &app,
                Some("admin"),
                Request::get(uri).body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(response.status(), 200, "{uri}");
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            (kind, bytes)
        }
    };
    let (kind, xlsx) = body("/admin/audit/export?format=xlsx&outcome=denied").await;
    assert!(kind.contains("spreadsheetml"), "{kind}");
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec())).unwrap();
    use calamine::Reader;
    let events = workbook.worksheet_range("Events").unwrap();
    let denied = f
        .store
        .count(&AuditQuery::new().outcome(Outcome::Denied))
        .await
        .unwrap();
    assert_eq!(
        events.height() as u64,
        denied + 1,
        "a header and every denied event"
    );

    let (kind, pdf) = body("/admin/audit/export?format=pdf&outcome=denied").await;
    assert_eq!(kind, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    // Both downloads are recorded with their format.
    let mut formats = Vec::new();
    for _ in 0..100 {
        formats = recorded(&f, "AUDIT_LOG_EXPORTED")
            .await
            .iter()
            .map(|r| r.event.metadata["format"].as_str().unwrap_or("").to_owned())
            .collect();
        if formats.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    formats.sort();
    assert_eq!(formats, ["pdf", "xlsx"]);
}

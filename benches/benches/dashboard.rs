//! Issue 14: the dashboard's server time per page at 1M events in SQLite, in-process (the
//! router called through `tower::ServiceExt::oneshot`, body collected; no network).
//!
//! The fill spreads `AUDIT_BENCH_EVENTS` (default 1 000 000) events evenly over the last
//! 30 days: 1 000 actors, 10 actions, 90 % success / 6 % failure / 4 % denied, 100 000
//! bookings, 256 client IPs. Before criterion runs, each page is requested
//! `AUDIT_BENCH_SAMPLES` (default 200) times and its p50 / p99 printed in one table,
//! beside the alternative the overview avoids: `AuditStore::count_by` over the same 30
//! days, straight from the store (by action, actor, day). The overview is measured once
//! its counts are built (the build time is printed too).

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_core::query::{AuditQuery, CountBy};
use audit_core::{Actor, AuditEvent, AuditStore, Category};
use audit_dashboard::{Access, Dashboard, Denial, Permission, Viewer};
use audit_sqlite::SqliteStore;
use axum::body::Body;
use chrono::{Duration as Span, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

const ACTIONS: [&str; 10] = [
    "authn_login_success",
    "authn_login_fail",
    "authn_logout",
    "authz_fail",
    "FTMS_BOOKING_CREATED",
    "FTMS_BOOKING_CANCELLED",
    "FTMS_BOOKING_UPDATED",
    "FTMS_CLASS_CREATED",
    "FTMS_REFUND_ISSUED",
    "AUDIT_ALERT_FIRED",
];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Everyone may do everything: the bench measures pages, not access checks.
struct Everyone;

#[async_trait]
impl Access for Everyone {
    async fn authorize(&self, _: &http::request::Parts) -> Result<Viewer, Denial> {
        Ok(Viewer::new(Actor::user("bench")).grant(Permission::ALL))
    }
}

fn event(i: usize, n: usize) -> AuditEvent {
    let span = Span::days(30).num_microseconds().unwrap_or(0);
    let at = Utc::now() - Span::days(30) + Span::microseconds(span / n as i64 * i as i64);
    let action = ACTIONS[(i * 7) % ACTIONS.len()];
    let category = match action {
        a if a.starts_with("authn") => Category::Authentication,
        "authz_fail" => Category::Authorization,
        "AUDIT_ALERT_FIRED" => Category::System,
        _ => Category::Business,
    };
    let b = AuditEvent::builder(action)
        .occurred_at(at)
        .category(category)
        .actor(Actor::user(format!("user-{}", (i * 31) % 1000)))
        .entity("booking", format!("b-{}", i % 100_000))
        .ip(IpAddr::from([10, 0, (i % 256) as u8, 1]))
        .request_id(format!("r-{i}"))
        .description(format!("{action} number {i}"))
        .metadata_entry("seats", i % 9);
    match i % 50 {
        0..=2 => b.failure("sold out"),
        3 | 4 => b.denied("missing permission"),
        _ => b,
    }
    .build()
}

struct Bench {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    store: SqliteStore,
    pages: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

async fn call(app: &axum::Router, uri: &str) -> usize {
    let request = http::Request::get(uri)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert!(
        response.status().is_success(),
        "{uri}: {}",
        response.status()
    );
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    body.len()
}

/// Only the first chunk of an export: the time until the download starts.
async fn first_chunk(app: &axum::Router, uri: &str) -> usize {
    let request = http::Request::get(uri)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let mut body = response.into_body();
    let frame = http_body_util::BodyExt::frame(&mut body).await;
    frame.map_or(0, |f| {
        f.ok()
            .and_then(|f| f.into_data().ok())
            .map_or(0, |d| d.len())
    })
}

fn setup() -> Bench {
    let n = env("AUDIT_BENCH_EVENTS", 1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("dashboard.db")).expect("open");
    let started = Instant::now();
    rt.block_on(async {
        let mut i = 0;
        while i < n {
            let batch: Vec<_> = (i..(i + 10_000).min(n)).map(|j| event(j, n)).collect();
            store.append(&batch).await.expect("append");
            i += batch.len();
        }
    });
    eprintln!(
        "filled {n} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (app, built) = rt.block_on(async {
        let started = Instant::now();
        let app = Dashboard::new(store.clone(), Everyone).router();
        // The counts build in the background; the overview says when they are done.
        loop {
            let request = http::Request::get("/")
                .body(Body::empty())
                .expect("request");
            let response = app.clone().oneshot(request).await.expect("infallible");
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("body")
                .to_bytes();
            if String::from_utf8_lossy(&body).contains("Counts include every event") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (app, started.elapsed())
    });
    eprintln!(
        "overview counts built from {n} events in {:.1} s (background, once)",
        built.as_secs_f64()
    );

    let mid = (n / 2) as u64;
    let cursor = audit_core::query::Cursor::after_seq(mid).to_string();
    let pages = vec![
        ("overview 24h", "/?range=24h".to_owned()),
        ("overview 7d", "/?range=7d".to_owned()),
        ("overview 30d", "/?range=30d".to_owned()),
        ("events, newest 50", "/events".to_owned()),
        (
            "events, actor + outcome",
            "/events?actor=user-31&outcome=denied".to_owned(),
        ),
        (
            "events, outcome denied",
            "/events?outcome=denied".to_owned(),
        ),
        (
            "events, action prefix",
            "/events?action=FTMS_&action_match=prefix".to_owned(),
        ),
        ("events, IP /24", "/events?ip=10.0.7.0/24".to_owned()),
        (
            "events, next page at 500k",
            format!("/events?after={cursor}"),
        ),
        (
            "events, previous page at 500k",
            format!("/events?before={cursor}"),
        ),
        (
            "events, one day",
            format!(
                "/events?since={}&until={}",
                (Utc::now() - Span::days(10)).format("%Y-%m-%dT%H:%M"),
                (Utc::now() - Span::days(9)).format("%Y-%m-%dT%H:%M")
            ),
        ),
        ("event", format!("/events/{mid}")),
        (
            "entity timeline",
            "/entity?type=booking&id=b-4242".to_owned(),
        ),
        ("actor timeline", "/actor?id=user-31".to_owned()),
        ("live", "/live".to_owned()),
        ("live feed", format!("/live/feed?after={}", n - 10)),
        ("verify page", "/verify".to_owned()),
        (
            "export csv, first chunk",
            "/export?format=csv&actor=user-31".to_owned(),
        ),
    ];
    Bench {
        rt,
        app,
        store,
        pages,
        _dir: dir,
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

fn table(bench: &Bench) {
    let samples = env("AUDIT_BENCH_SAMPLES", 200);
    eprintln!(
        "\n{:<34} {:>9} {:>9}",
        "page (server time, in-process)", "p50 ms", "p99 ms"
    );
    for (name, uri) in &bench.pages {
        let times: Vec<Duration> = (0..samples)
            .map(|_| {
                let t = Instant::now();
                bench.rt.block_on(async {
                    if uri.starts_with("/export") {
                        black_box(first_chunk(&bench.app, uri).await)
                    } else {
                        black_box(call(&bench.app, uri).await)
                    }
                });
                t.elapsed()
            })
            .collect();
        let (p50, p99) = percentiles(times);
        eprintln!("{name:<34} {p50:>9.2} {p99:>9.2}");
    }
    let month = AuditQuery::new().since(Utc::now() - Span::days(30));
    let raw_samples = (samples / 10).max(5);
    for (name, by) in [
        ("store count_by action, 30 d", CountBy::Action),
        ("store count_by actor, 30 d", CountBy::Actor),
        ("store count_by day, 30 d", CountBy::Day),
    ] {
        let times: Vec<Duration> = (0..raw_samples)
            .map(|_| {
                let t = Instant::now();
                bench.rt.block_on(async {
                    black_box(bench.store.count_by(&month, by).await.expect("count"))
                });
                t.elapsed()
            })
            .collect();
        let (p50, p99) = percentiles(times);
        eprintln!("{name:<34} {p50:>9.2} {p99:>9.2}   (the scan the overview avoids)");
    }
    eprintln!();
}

fn dashboard(c: &mut Criterion) {
    let bench = setup();
    table(&bench);
    let mut group = c.benchmark_group("dashboard_page");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    for (name, uri) in &bench.pages {
        group.bench_with_input(BenchmarkId::from_parameter(name), uri, |b, uri| {
            b.to_async(&bench.rt).iter(|| async {
                if uri.starts_with("/export") {
                    black_box(first_chunk(&bench.app, uri).await)
                } else {
                    black_box(call(&bench.app, uri).await)
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, dashboard);
criterion_main!(benches);

//! The admin's walk through the dashboard in a real browser (headless Chromium through
//! WebDriver), against the real `ftms-booking` binary and its SQLite file: sign in as
//! admin, open the overview, filter by actor and outcome, page forward and back, open an
//! event, follow its entity link, download a CSV export and check its rows against the
//! store, and check that a user without `audit:read` gets 403 and that the denial is in
//! the log. A screenshot of every page is saved (see `AUDIT_SCREENSHOTS`).

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use audit::SqliteStore;
use audit::query::AuditQuery;
use audit::{AuditStore, Outcome};
use audit_browser_test::{Browser, Locator};
use serde_json::json;

/// The service on a free port with its own database; killed on drop.
struct Service {
    child: Child,
    url: String,
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Service {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("audit.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftms-booking"))
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ftms-booking");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_owned();
    let store = SqliteStore::open(&db).expect("open the service's log");
    Service {
        child,
        url,
        store,
        _dir: dir,
    }
}

impl Service {
    /// Polls the log until `query` matches at least `n` events.
    async fn wait_for(&self, query: &AuditQuery, n: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.store.count(query).await.expect("count");
            if found >= n || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Some history through the JSON API: 30 failed and 3 successful bookings by alice, a
/// failed login and a denial.
async fn activity(service: &Service) {
    let http = reqwest::Client::new();
    let login = |user: &str, password: &str| {
        http.post(format!("{}/login", service.url))
            .json(&json!({ "username": user, "password": password }))
            .send()
    };
    let body: serde_json::Value = login("alice", "alice-pass")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice = body["token"].as_str().unwrap().to_owned();
    login("mallory", "guess").await.unwrap();
    let book = |seats: u32, flight: &str| {
        http.post(format!("{}/bookings", service.url))
            .bearer_auth(&alice)
            .json(&json!({ "flight": flight, "seats": seats }))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(book(1, "FT100").await.unwrap().status(), 201);
    }
    for _ in 0..30 {
        assert_eq!(book(5, "FT200").await.unwrap().status(), 409);
    }
    let failures = AuditQuery::new().actor("alice").outcome(Outcome::Failure);
    assert_eq!(service.wait_for(&failures, 30).await, 30);
}

/// `[seq, actor, outcome]` of every row of the events table.
async fn rows(browser: &Browser) -> Vec<(u64, String, String)> {
    let value = browser
        .eval(
            "return Array.from(document.querySelectorAll('table.events tbody tr')).map(tr => \
             [tr.querySelector('.c-seq').innerText, tr.querySelector('.c-actor').innerText, \
             tr.querySelector('.c-outcome').innerText.trim()])",
        )
        .await;
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().parse().unwrap(),
                r[1].as_str().unwrap().to_owned(),
                r[2].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Clicks and, when the click navigates, waits for the new page to be loaded.
async fn click(browser: &Browser, css: &str) {
    let c = browser.client();
    let before = c.current_url().await.unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while c.current_url().await.unwrap() == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while browser.eval("return document.readyState").await != "complete" {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn heading(browser: &Browser) -> String {
    let h1 = browser.client().find(Locator::Css("h1")).await.unwrap();
    h1.text().await.unwrap()
}

async fn sign_in(browser: &Browser, url: &str, user: &str) {
    browser
        .client()
        .goto(&format!("{url}/signin"))
        .await
        .unwrap();
    let form = browser.client().form(Locator::Css("form")).await.unwrap();
    form.set_by_name("username", user).await.unwrap();
    form.set_by_name("password", &format!("{user}-pass"))
        .await
        .unwrap();
    form.submit().await.unwrap();
}

/// Sets the events filter form and applies it.
async fn filter(browser: &Browser, fields: &[(&str, &str)], selects: &[(&str, &str)]) {
    let c = browser.client();
    for (name, value) in fields {
        let input = c
            .find(Locator::Css(&format!("form.filter input[name={name}]")))
            .await
            .unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    for (name, value) in selects {
        let select = c
            .find(Locator::Css(&format!("form.filter select[name={name}]")))
            .await
            .unwrap();
        select.select_by_value(value).await.unwrap();
    }
    click(browser, "form.filter button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reviews_the_log_in_a_browser() {
    let Some(browser) = Browser::start("admin_walkthrough").await else {
        return;
    };
    let service = start();
    activity(&service).await;
    let url = service.url.clone();
    let c = browser.client();

    // Not signed in: 401, with a way to sign in.
    c.goto(&format!("{url}/admin/audit")).await.unwrap();
    assert_eq!(heading(&browser).await, "Sign in required");
    browser.screenshot("01-unauthenticated").await;
    click(&browser, "a.button").await;
    browser.screenshot("02-signin").await;
    let form = c.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("username", "admin").await.unwrap();
    form.set_by_name("password", "admin-pass").await.unwrap();
    form.submit().await.unwrap();

    // The overview.
    c.wait().for_element(Locator::Css(".cards")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/admin/audit");
    assert_eq!(heading(&browser).await, "Overview");
    browser.screenshot("03-overview").await;

    // Filter by actor and outcome, 25 a page: 30 failures make two pages.
    click(&browser, "header nav a[href='/admin/audit/events']").await;
    filter(
        &browser,
        &[("actor", "alice")],
        &[("outcome", "failure"), ("limit", "25")],
    )
    .await;
    let first = rows(&browser).await;
    assert_eq!(first.len(), 25);
    assert!(
        first
            .iter()
            .all(|(_, actor, outcome)| actor == "alice" && outcome == "failure")
    );
    let here = c.current_url().await.unwrap();
    assert!(
        here.query().unwrap().contains("actor=alice"),
        "the filter is in the URL: {here}"
    );
    browser.screenshot("04-events-filtered").await;
    click(&browser, "a[rel=next]").await;
    let second = rows(&browser).await;
    assert_eq!(second.len(), 5);
    assert!(second[0].0 < first[24].0, "older events on the next page");
    browser.screenshot("05-events-page-2").await;
    click(&browser, "a[rel=prev]").await;
    assert_eq!(rows(&browser).await, first, "back to the same first page");

    // Download this filter as CSV and compare it with the store.
    click(&browser, "#exports a.button[href*='format=csv']").await;
    let csv_path = browser.download(".csv", Duration::from_secs(20)).await;
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let exported: Vec<u64> = reader
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect();
    let all = first.iter().chain(&second).map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(exported, all, "the export holds exactly the filtered rows");
    let stored = service
        .store
        .query(
            &AuditQuery::new()
                .actor("alice")
                .outcome(Outcome::Failure)
                .limit(100),
        )
        .await
        .unwrap();
    assert_eq!(
        exported,
        stored.events.iter().map(|r| r.seq).collect::<Vec<_>>()
    );

    // Open a booking and follow its entity link to the booking's history.
    filter(
        &browser,
        &[("action", "FTMS_BOOKING_CREATED")],
        &[("outcome", "success")],
    )
    .await;
    click(&browser, "table.events tbody tr td.c-seq a").await;
    assert!(heading(&browser).await.starts_with("Event "));
    browser.screenshot("06-event").await;
    click(&browser, "dd a[href*='/entity?']").await;
    let title = heading(&browser).await;
    assert!(title.starts_with("Entity booking b-"), "{title}");
    assert!(!rows_in_timeline(&browser).await.is_empty());
    browser.screenshot("07-entity-timeline").await;

    // Verify the chain from the form (a POST with its CSRF token, from the real browser).
    click(&browser, "header nav a[href='/admin/audit/verify']").await;
    click(&browser, "form.verify button[type=submit]").await;
    let verdict = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#verify-verdict"))
        .await
        .unwrap();
    let verdict = verdict.text().await.unwrap();
    assert!(verdict.starts_with("valid: "), "{verdict}");
    browser.screenshot("08-verified").await;

    // The mount path with a trailing slash is the overview too; then sign out from the
    // header (a POST to the example's /signout, recorded as a logout).
    c.goto(&format!("{url}/admin/audit/")).await.unwrap();
    assert_eq!(heading(&browser).await, "Overview");
    assert_eq!(c.current_url().await.unwrap().path(), "/admin/audit");
    click(&browser, "header form.signout button").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/signin");
    c.goto(&format!("{url}/admin/audit")).await.unwrap();
    assert_eq!(heading(&browser).await, "Sign in required");
    let logout = AuditQuery::new().actor("admin").action("authn_logout");
    assert_eq!(service.wait_for(&logout, 1).await, 1);

    // bob may not read the log: 403, and the denial is recorded.
    sign_in(&browser, &url, "bob").await;
    c.goto(&format!("{url}/admin/audit/events")).await.unwrap();
    assert_eq!(heading(&browser).await, "Access denied");
    browser.screenshot("09-forbidden").await;
    let mut denial = AuditQuery::new().actor("bob").action("authz_fail");
    denial.limit = Some(10);
    // Signing in took bob to the overview first: two denials.
    assert_eq!(service.wait_for(&denial, 2).await, 2);
    let denials = service.store.query(&denial).await.unwrap().events;
    let event = &denials
        .iter()
        .find(|r| r.event.metadata["path"] == "/admin/audit/events")
        .expect("the denial of the events page")
        .event;
    assert_eq!(event.metadata["permission"], "audit:read");
    assert_eq!(event.metadata["path"], "/admin/audit/events");
    assert_eq!(event.metadata["roles"], json!(["viewer"]));

    // Who watched: the admin's views and export are in the log too.
    let export = AuditQuery::new()
        .action("AUDIT_LOG_EXPORTED")
        .actor("admin");
    assert_eq!(service.wait_for(&export, 1).await, 1);
    let exported = &service.store.query(&export).await.unwrap().events[0].event;
    assert_eq!(exported.metadata["rows"], 30);
    assert_eq!(exported.metadata["filter"]["actor"], "alice");
    let views = AuditQuery::new().action("AUDIT_LOG_VIEWED").actor("admin");
    assert!(service.wait_for(&views, 6).await >= 6);
    eprintln!("screenshots in {}", browser.screenshot_dir().display());
    browser.close().await;
}

async fn rows_in_timeline(browser: &Browser) -> Vec<String> {
    let v = browser
        .eval("return Array.from(document.querySelectorAll('ol.timeline li .action')).map(a => a.innerText)")
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

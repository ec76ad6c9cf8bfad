//! Hostile event content in a real browser (headless Chromium through WebDriver): HTML,
//! script, `javascript:` URLs, very long and right-to-left text in descriptions, metadata
//! keys and values, user agents, actor and entity ids. Every page must show it as inert
//! text: no script runs, no element is injected, no link leaves the dashboard, and nothing
//! breaks out of its cell.

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use audit_browser_test::{Browser, Locator};
use audit_core::{Actor, AuditEvent};
use audit_pipeline::Auditor;
use audit_sqlite::SqliteStore;
use serde_json::json;

const SCRIPT: &str = "<script>window.__pwned = 1</script>";
const IMG: &str = "<img src=x onerror=\"window.__pwned = 2\">";
const JS_URL: &str = "javascript:window.__pwned=3";
const MARKUP: &str = "<b data-pwn>bold</b><iframe data-pwn src=\"javascript:1\"></iframe>";
const RTL: &str =
    "\u{202E}gnp.exe \u{05E9}\u{05DC}\u{05D5}\u{05DD} \u{0645}\u{0631}\u{062D}\u{0628}\u{0627}";

fn hostile_events() -> Vec<AuditEvent> {
    let long_word = "A".repeat(3000);
    let long_id = "x".repeat(250);
    vec![
        AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user(SCRIPT))
            .entity("booking", JS_URL)
            .description(format!("{SCRIPT}{IMG}{MARKUP}"))
            .user_agent(IMG)
            .metadata(json!({ SCRIPT: IMG, "url": JS_URL, "nested": { MARKUP: [SCRIPT] } }))
            .build(),
        AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user(&long_id))
            .entity(IMG, &long_id)
            .description(long_word.clone())
            .user_agent(long_word.chars().take(500).collect::<String>())
            .metadata(json!({ long_word.clone(): long_word }))
            .denied(RTL)
            .build(),
        AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user(RTL))
            .entity("booking", RTL)
            .description(format!("{RTL} {RTL} {SCRIPT}"))
            .metadata(json!({ RTL: RTL }))
            .build(),
    ]
}

/// Checks the page in the browser; returns a description of what is wrong, if anything.
const INSPECT: &str = r#"
const problems = [];
if (window.__pwned !== undefined) problems.push("a script ran: " + window.__pwned);
const injected = document.querySelectorAll("[data-pwn], img, iframe, object, embed, script:not([src])");
if (injected.length) problems.push(injected.length + " injected elements: " + Array.from(injected).map(e => e.outerHTML.slice(0, 120)).join(" | "));
for (const a of document.querySelectorAll("a[href]")) {
  if (a.protocol !== "http:" || a.host !== location.host) problems.push("a link leaves the dashboard: " + a.href.slice(0, 80));
}
if (document.documentElement.scrollWidth > window.innerWidth + 1) {
  problems.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
}
for (const el of document.querySelectorAll("td, th, dd, li, .card, pre, h1")) {
  if (el.scrollWidth > el.clientWidth + 1) problems.push(el.tagName + "." + el.className + " overflows by " + (el.scrollWidth - el.clientWidth) + "px");
}
for (const tr of document.querySelectorAll("table.events tr")) {
  const xs = Array.from(tr.children).map(c => c.getBoundingClientRect().left);
  for (let i = 1; i < xs.length; i++) if (xs[i] <= xs[i - 1]) problems.push("columns out of order in a row");
}
if (getComputedStyle(document.body).direction !== "ltr") problems.push("the page turned right-to-left");
return problems.slice(0, 10).join("\n");
"#;

/// `shows_script`: whether the page holds an event with the script text, which must then
/// be visible as text.
async fn check(browser: &Browser, url: &str, name: &str, shows_script: bool) {
    browser.client().goto(url).await.expect("open page");
    browser.screenshot(name).await;
    let problems = browser.eval(INSPECT).await;
    assert_eq!(problems, "", "{name} ({url})");
    let text = browser.eval("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    if shows_script {
        assert!(
            text.contains("<script>window.__pwned = 1</script>"),
            "{name}: the script shows as text"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_content_renders_inert_in_a_real_browser() {
    let Some(browser) = Browser::start("hostile_content").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    store.append(&hostile_events()).await.unwrap();
    let auditor = Auditor::builder(store.clone()).build().unwrap();
    let url = support::serve(support::app(Arc::new(store.clone()), auditor)).await;

    browser
        .client()
        .goto(&format!("{url}/test-signin/admin"))
        .await
        .unwrap();
    let base = format!("{url}/admin/audit");
    check(&browser, &format!("{base}/events"), "events", true).await;
    for seq in 1..=3 {
        check(
            &browser,
            &format!("{base}/events/{seq}"),
            &format!("event-{seq}"),
            seq != 2,
        )
        .await;
    }
    check(&browser, &format!("{base}/live"), "live", true).await;
    check(&browser, &base, "overview", false).await;

    // Follow the hostile entity and actor links the way a person would.
    browser
        .client()
        .goto(&format!("{base}/events/1"))
        .await
        .unwrap();
    let entity = browser
        .client()
        .find(Locator::Css("dd a[href*='/entity?']"))
        .await
        .unwrap();
    entity.click().await.unwrap();
    let here = browser.client().current_url().await.unwrap();
    assert!(here.path().ends_with("/admin/audit/entity"), "{here}");
    check(&browser, here.as_str(), "entity-javascript-url", true).await;
    browser
        .client()
        .goto(&format!("{base}/events/3"))
        .await
        .unwrap();
    browser
        .client()
        .find(Locator::Css("dd a[href*='/actor?']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let here = browser.client().current_url().await.unwrap();
    let problems = browser.eval(INSPECT).await;
    assert_eq!(problems, "", "actor timeline of the right-to-left actor");
    browser.screenshot("actor-rtl").await;
    assert!(here.path().ends_with("/admin/audit/actor"));
    eprintln!("screenshots in {}", browser.screenshot_dir().display());
    browser.close().await;
}

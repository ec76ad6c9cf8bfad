//! A real SQLite store filled with varied events, hostile text among them.
#![allow(dead_code)]

use audit_core::{Actor, AuditEvent, Category};
use audit_report::{Report, ReportRequest};
use audit_sqlite::SqliteStore;
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Text an attacker could put into a field, aimed at spreadsheets.
pub const HOSTILE: [&str; 5] = [
    "=HYPERLINK(\"http://evil.invalid\",\"click\")",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "=1+1",
];

pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

/// Event `i` of the standard fill: bookings, logins (some failed), denials, an alert, and
/// hostile descriptions, spread over several days.
pub fn event(i: u64) -> AuditEvent {
    let at = epoch() + Duration::minutes(37 * i as i64);
    let actors = ["alice", "bob", "carol", "=cmd"];
    let actor = actors[(i % 4) as usize];
    let builder = match i % 10 {
        0 => AuditEvent::builder("AUTHN_LOGIN_FAIL")
            .category(Category::Authentication)
            .actor(Actor::anonymous(actor))
            .failure("invalid user name or password"),
        1 => AuditEvent::builder("AUTHZ_FAIL")
            .category(Category::Authorization)
            .actor(Actor::user(actor))
            .denied("missing permission booking:delete"),
        2 if i % 20 == 2 => AuditEvent::builder("AUDIT_ALERT_FIRED")
            .category(Category::System)
            .actor(Actor::system("alerts")),
        3 => AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user(actor))
            .entity("booking", format!("b-{i}"))
            .description(HOSTILE[(i / 10 % HOSTILE.len() as u64) as usize]),
        _ => AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user(actor))
            .entity("booking", format!("b-{i}"))
            .ip(format!("10.0.{}.{}", i % 7, i % 250).parse().unwrap())
            .description(format!("booking {i} for {actor}"))
            .metadata_entry("seats", (i % 5) as i64),
    };
    builder.occurred_at(at).build()
}

/// A fresh store with `n` events of the standard fill.
pub async fn filled(n: u64) -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    let events: Vec<AuditEvent> = (0..n).map(event).collect();
    for chunk in events.chunks(5000) {
        store.append(chunk).await.unwrap();
    }
    (store, dir)
}

pub async fn report(store: &SqliteStore, query: audit_core::AuditQuery) -> Report {
    Report::gather(
        store,
        ReportRequest::new("Test report", query, store.hasher()),
    )
    .await
    .unwrap()
}

/// Edits record `seq` behind the store's back (triggers dropped), as an attacker with write
/// access to the file would.
pub fn tamper(dir: &std::path::Path, seq: u64) {
    let conn = rusqlite::Connection::open(dir.join("audit.db")).unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS audit_events_no_update;
         UPDATE audit_events SET entity_id = 'forged' WHERE seq = {seq};"
    ))
    .unwrap();
}

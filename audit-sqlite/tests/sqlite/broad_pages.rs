//! Filters that match much of the log (a time range, an action prefix) page exactly like
//! `AuditQuery::matches`, whichever way the store reads them (a walk along `seq` or the
//! filter's index), including time ranges over events recorded with past timestamps.

use audit_core::query::{AuditQuery, Cursor, Order, Page};
use audit_core::{Actor, AuditEvent, AuditStore, Category, Outcome, StoredEvent};
use audit_sqlite::SqliteStore;
use chrono::{DateTime, Duration, Utc};
use tempfile::TempDir;

use crate::common::{Gen, epoch, fresh_store};
use crate::queries::expected;

/// Events in the log; the store probes its newest 4 096 rows before measuring an index.
const EVENTS: u64 = 12_000;
/// Events `BACKDATED` are recorded late with past timestamps (minutes 500 to 800).
const BACKDATED: std::ops::Range<u64> = 6_000..6_300;

fn minute(m: u64) -> DateTime<Utc> {
    epoch() + Duration::minutes(m as i64)
}

/// Event `i` happened at minute `i` (two per minute from 9 000 on, so times repeat), except
/// the backdated block, which interleaves with minutes 500 to 800 while its seqs are in the
/// middle of the log: `occurred_at` is not monotonic in `seq`.
fn event(g: &mut Gen, i: u64) -> AuditEvent {
    let at = if BACKDATED.contains(&i) {
        minute(500 + i - BACKDATED.start) + Duration::seconds(30)
    } else if i >= 9_000 {
        minute(9_000 + (i - 9_000) / 2)
    } else {
        minute(i)
    };
    let action = *g.pick(&[
        "FTMS_BOOKING_CREATED",
        "FTMS_BOOKING_CANCELLED",
        "FTMS_REFUND",
        "AUTHN_LOGIN",
        "AUTHZ_DENIED",
    ]);
    let b = AuditEvent::builder(action)
        .occurred_at(at)
        .category(*g.pick(&[Category::Authentication, Category::Business]))
        .actor(Actor::user(*g.pick(&["alice", "bob", "carol"])))
        .description(*g.pick(&["Paris", "Oslo"]));
    match g.next() % 10 {
        0 => b.denied("no role"),
        1 => b.failure("sold out"),
        _ => b.outcome(Outcome::Success, None),
    }
    .build()
}

async fn filled() -> (SqliteStore, TempDir, Vec<StoredEvent>) {
    let (store, dir) = fresh_store();
    let mut g = Gen::new(11);
    let events: Vec<AuditEvent> = (0..EVENTS).map(|i| event(&mut g, i)).collect();
    for part in events.chunks(1_000) {
        store.append(part).await.expect("test setup");
    }
    let mut records = Vec::new();
    store
        .for_each_blocking(&AuditQuery::new().order(Order::OldestFirst), |r| {
            records.push(r.clone());
            Ok(())
        })
        .expect("test setup");
    (store, dir, records)
}

/// Time ranges (old and dense, over the backdated block, recent, empty, open-ended) and
/// prefixes, alone and with the filters no index serves.
fn queries() -> Vec<(String, AuditQuery)> {
    let times: Vec<(&str, AuditQuery)> = vec![
        ("no time", AuditQuery::new()),
        (
            "minutes 1000-3000",
            AuditQuery::new().since(minute(1_000)).until(minute(3_000)),
        ),
        (
            "minutes 500-800 (backdated)",
            AuditQuery::new().since(minute(500)).until(minute(800)),
        ),
        (
            "minutes 600-601 (backdated)",
            AuditQuery::new().since(minute(600)).until(minute(601)),
        ),
        ("until minute 700", AuditQuery::new().until(minute(700))),
        ("since minute 9500", AuditQuery::new().since(minute(9_500))),
        (
            "minute 10000 exactly",
            AuditQuery::new()
                .since(minute(10_000))
                .until(minute(10_001)),
        ),
        (
            "empty range",
            AuditQuery::new().since(minute(3_000)).until(minute(1_000)),
        ),
        ("after the log", AuditQuery::new().since(minute(99_000))),
    ];
    let mut out = Vec::new();
    for (time, base) in times {
        let variants: Vec<(&str, AuditQuery)> = vec![
            ("", base.clone()),
            ("prefix FTMS_", base.clone().action_prefix("FTMS_")),
            (
                "prefix FTMS_BOOKING_C",
                base.clone().action_prefix("FTMS_BOOKING_C"),
            ),
            ("prefix AUTH", base.clone().action_prefix("AUTH")),
            ("prefix none", base.clone().action_prefix("NOPE_")),
            ("action", base.clone().action("FTMS_REFUND")),
            ("denied", base.clone().outcome(Outcome::Denied)),
            (
                "FTMS_ denied",
                base.clone().action_prefix("FTMS_").outcome(Outcome::Denied),
            ),
            ("category", base.clone().category(Category::Authentication)),
            ("text", base.clone().description_contains("Oslo")),
            ("actor", base.clone().actor("bob")),
        ];
        for (extra, query) in variants {
            out.push((format!("{time} {extra}"), query));
        }
    }
    out
}

/// The page the reference gives: `AuditQuery::matches` over every record.
fn reference(records: &[StoredEvent], query: &AuditQuery) -> Page {
    let fetched: Vec<StoredEvent> = expected(records, query)
        .into_iter()
        .take(query.page_size() as usize + 1)
        .map(|seq| records[seq as usize - 1].clone())
        .collect();
    Page::from_fetched(fetched, query.page_size())
}

async fn compare_pages(order: Order) {
    let (store, _dir, records) = filled().await;
    let mut compared = 0;
    for (name, query) in queries() {
        // The first pages through their cursors, then pages from cursors all over the log.
        let mut q = query.clone().order(order).limit(50);
        for _ in 0..3 {
            let got = store.query(&q).await.expect("query");
            assert_eq!(
                got,
                reference(&records, &q),
                "{name} {order:?} {:?}",
                q.cursor
            );
            compared += 1;
            match got.next {
                Some(cursor) => q = q.after(cursor),
                None => break,
            }
        }
        for at in [1, 700, 3_001, 6_100, 6_301, 8_000, 11_990, EVENTS + 5] {
            let q = query
                .clone()
                .order(order)
                .limit(50)
                .after(Cursor::after_seq(at));
            let got = store.query(&q).await.expect("query");
            assert_eq!(got, reference(&records, &q), "{name} {order:?} after {at}");
            compared += 1;
        }
    }
    assert!(compared > 800, "{compared}");
}

#[tokio::test]
async fn broad_filters_page_newest_first_like_the_reference() {
    compare_pages(Order::NewestFirst).await;
}

#[tokio::test]
async fn broad_filters_page_oldest_first_like_the_reference() {
    compare_pages(Order::OldestFirst).await;
}

#[tokio::test]
async fn a_backdated_time_range_pages_through_every_match_in_seq_order() {
    let (store, _dir, records) = filled().await;
    let query = AuditQuery::new().since(minute(500)).until(minute(800));
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let want = expected(&records, &query.clone().order(order));
        assert_eq!(
            want.len(),
            600,
            "both the originals and the backdated block"
        );
        let mut seqs = Vec::new();
        let mut q = query.clone().order(order).limit(37);
        loop {
            let page = store.query(&q).await.expect("query");
            seqs.extend(page.events.iter().map(|e| e.seq));
            match page.next {
                Some(cursor) => q = q.after(cursor),
                None => break,
            }
        }
        assert_eq!(seqs, want, "{order:?}");
    }
}

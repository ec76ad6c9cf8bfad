//! Queries, pagination and counts agree with `AuditQuery::matches` over the same data.

use std::collections::BTreeMap;

use crate::common::{epoch, fresh_store, varied_events};
use audit_core::query::{AuditQuery, CountBy, Cursor, Order};
use audit_core::{AuditStore, Category, Outcome, StoredEvent};
use audit_sqlite::SqliteStore;
use chrono::Duration;
use tempfile::TempDir;

const EVENTS: u64 = 600;

async fn loaded() -> (SqliteStore, TempDir, Vec<StoredEvent>) {
    let (store, dir, records) = filled(42, EVENTS, 97).await;
    assert_eq!(records.len() as u64, EVENTS);
    (store, dir, records)
}

/// A store holding `n` varied events from `seed`, appended `chunk` at a time, and its
/// records oldest first.
async fn filled(seed: u64, n: u64, chunk: usize) -> (SqliteStore, TempDir, Vec<StoredEvent>) {
    let (store, dir) = fresh_store();
    for part in varied_events(seed, n).chunks(chunk) {
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

fn queries() -> Vec<(&'static str, AuditQuery)> {
    let net = |s: &str| s.parse().expect("test setup");
    vec![
        ("everything", AuditQuery::new()),
        ("actor", AuditQuery::new().actor("alice")),
        ("empty actor id", AuditQuery::new().actor("")),
        ("exact action", AuditQuery::new().action("FTMS_REFUND")),
        ("action prefix", AuditQuery::new().action_prefix("AUTHN_")),
        (
            "longer prefix",
            AuditQuery::new().action_prefix("FTMS_BOOKING_C"),
        ),
        ("empty prefix", AuditQuery::new().action_prefix("")),
        (
            "category",
            AuditQuery::new().category(Category::Authorization),
        ),
        ("outcome", AuditQuery::new().outcome(Outcome::Denied)),
        ("entity type", AuditQuery::new().entity_type("invoice")),
        ("entity id", AuditQuery::new().entity_id("b-3")),
        (
            "entity",
            AuditQuery::new().entity_type("booking").entity_id("b-7"),
        ),
        (
            "time window",
            AuditQuery::new()
                .since(epoch() + Duration::hours(50))
                .until(epoch() + Duration::hours(200)),
        ),
        ("ipv4 /16", AuditQuery::new().ip_in(net("10.0.0.0/16"))),
        ("ipv4 /8", AuditQuery::new().ip_in(net("10.0.0.0/8"))),
        ("ipv4 /32", AuditQuery::new().ip_in(net("192.168.1.20/32"))),
        ("ipv6 /32", AuditQuery::new().ip_in(net("2001:db8::/32"))),
        ("ipv6 /48", AuditQuery::new().ip_in(net("2001:db8:1::/48"))),
        (
            "v4-mapped range",
            AuditQuery::new().ip_in(net("::ffff:0:0/96")),
        ),
        ("everything v4", AuditQuery::new().ip_in(net("0.0.0.0/0"))),
        ("request", AuditQuery::new().request_id("req-4")),
        ("tenant", AuditQuery::new().tenant("acme")),
        (
            "description",
            AuditQuery::new().description_contains("Paris"),
        ),
        (
            "empty description needle",
            AuditQuery::new().description_contains(""),
        ),
        (
            "combined",
            AuditQuery::new()
                .actor("bob")
                .ip_in(net("10.0.0.0/8"))
                .since(epoch() + Duration::hours(24))
                .outcome(Outcome::Success),
        ),
        (
            "nothing matches",
            AuditQuery::new().actor("alice").action("NO_SUCH_ACTION"),
        ),
    ]
}

pub(crate) fn expected(records: &[StoredEvent], query: &AuditQuery) -> Vec<u64> {
    let mut seqs: Vec<u64> = records
        .iter()
        .filter(|r| query.matches(r))
        .map(|r| r.seq)
        .collect();
    if query.order == Order::NewestFirst {
        seqs.reverse();
    }
    seqs
}

pub(crate) async fn all_pages(store: &SqliteStore, query: &AuditQuery) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut q = query.clone().limit(7);
    loop {
        let page = store.query(&q).await.expect("test setup");
        assert!(page.events.len() <= 7);
        seqs.extend(page.events.iter().map(|e| e.seq));
        match page.next {
            Some(cursor) => {
                // The cursor survives its text form, as an HTTP API hands it out.
                let cursor: Cursor = cursor.to_string().parse().expect("test setup");
                q = q.after(cursor);
            }
            None => break,
        }
    }
    seqs
}

#[tokio::test]
async fn every_filter_pages_newest_first_like_the_reference() {
    let (store, _dir, records) = loaded().await;
    for (name, query) in queries() {
        let query = query.order(Order::NewestFirst);
        assert_eq!(
            all_pages(&store, &query).await,
            expected(&records, &query),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_filter_pages_oldest_first_like_the_reference() {
    let (store, _dir, records) = loaded().await;
    for (name, query) in queries() {
        let query = query.order(Order::OldestFirst);
        assert_eq!(
            all_pages(&store, &query).await,
            expected(&records, &query),
            "{name}"
        );
    }
}

#[tokio::test]
async fn pages_return_whole_records() {
    let (store, _dir, records) = loaded().await;
    let page = store
        .query(&AuditQuery::new().actor("carol").limit(20))
        .await
        .unwrap();
    for event in page.events {
        assert_eq!(&event, &records[event.seq as usize - 1]);
    }
}

#[tokio::test]
async fn a_last_full_page_has_no_cursor() {
    let (store, _dir, records) = loaded().await;
    let query = AuditQuery::new().actor("alice");
    let n = expected(&records, &query).len() as u32;
    let page = store.query(&query.limit(n)).await.unwrap();
    assert_eq!(page.events.len() as u32, n);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn every_filter_counts_like_the_reference() {
    let (store, _dir, records) = loaded().await;
    for (name, query) in queries() {
        let want = expected(&records, &query).len() as u64;
        // The cursor is ignored by counts.
        let query = query.after(Cursor::after_seq(3));
        assert_eq!(store.count(&query).await.unwrap(), want, "{name}");
    }
}

#[tokio::test]
async fn every_filter_counts_by_each_key_like_the_reference() {
    let (store, _dir, records) = loaded().await;
    for (name, query) in queries() {
        for by in CountBy::ALL {
            let mut want: BTreeMap<String, u64> = BTreeMap::new();
            for record in records.iter().filter(|r| query.matches(r)) {
                *want.entry(by.key(record)).or_default() += 1;
            }
            let got: Vec<(String, u64)> = store
                .count_by(&query, by)
                .await
                .unwrap()
                .into_iter()
                .map(|g| (g.key, g.count))
                .collect();
            assert_eq!(
                got,
                want.into_iter().collect::<Vec<_>>(),
                "{name} by {by:?}"
            );
        }
    }
}

#[tokio::test]
async fn get_of_an_unknown_seq_is_none() {
    let (store, _dir) = fresh_store();
    assert_eq!(store.get(1).await.unwrap(), None);
}

#[tokio::test]
async fn the_query_indexes_are_used_for_their_filters() {
    let (store, dir, _) = loaded().await;
    drop(store);
    let conn = crate::common::raw(&crate::common::db_path(&dir));
    // The lookup indexes lead with the seq bucket: the store's queries walk the buckets
    // (this clause) and order by bucket, then seq.
    let buckets = "(seq >> 13) IN (WITH RECURSIVE audit_bucket(b) AS (SELECT \
        ((SELECT min(seq) FROM audit_events) >> 13) UNION ALL SELECT b + 1 FROM audit_bucket \
        WHERE b < ((SELECT max(seq) FROM audit_events) >> 13)) SELECT b FROM audit_bucket) AND";
    let newest = "ORDER BY (seq >> 13) DESC, seq DESC LIMIT 51";
    for (sql, index) in [
        (
            format!("{buckets} actor_id = 'a' {newest}"),
            "audit_events_actor",
        ),
        (
            format!("{buckets} entity_id = 'b-1' AND entity_type = 'booking' {newest}"),
            "audit_events_entity",
        ),
        (
            format!("{buckets} ip BETWEEN x'040a000000' AND x'040a00ffff'"),
            "audit_events_ip",
        ),
        (
            format!("{buckets} request_id = 'r' {newest}"),
            "audit_events_request",
        ),
        (
            "occurred_at >= 0 AND occurred_at < 10".to_owned(),
            "audit_events_time",
        ),
    ] {
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE {sql}"
            ))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join(" | ");
        assert!(plan.contains(index), "{sql}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql} sorts: {plan}");
    }
}

#[tokio::test]
async fn lookups_page_and_count_across_many_index_buckets() {
    // The lookup indexes lead with `seq >> 13`: 20 000 events span three buckets.
    let (store, _dir, records) = filled(7, 20_000, 5_000).await;
    let net = |s: &str| s.parse().expect("test setup");
    for (name, query) in [
        ("actor", AuditQuery::new().actor("alice")),
        (
            "entity",
            AuditQuery::new().entity_type("booking").entity_id("b-7"),
        ),
        ("ipv4 /16", AuditQuery::new().ip_in(net("10.0.0.0/16"))),
        ("request", AuditQuery::new().request_id("req-4")),
    ] {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let query = query.clone().order(order);
            let want = expected(&records, &query);
            assert!(want.len() > 20, "{name}: too few matches to page");
            let mut seqs = Vec::new();
            let mut q = query.clone().limit(9);
            loop {
                let page = store.query(&q).await.expect("query");
                seqs.extend(page.events.iter().map(|e| e.seq));
                match page.next {
                    Some(cursor) => q = q.after(cursor),
                    None => break,
                }
            }
            assert_eq!(seqs, want, "{name} {order:?}");
            assert_eq!(
                store.count(&query).await.expect("count"),
                want.len() as u64,
                "{name}"
            );
        }
    }
}

//! Lookups by actor, entity, IP and request id over a log of several complete buckets, where
//! the store seeks only the buckets its per-bucket filters let through: every page (with
//! cursors, both orders) and every count equals `AuditQuery::matches` over all records,
//! for frequent keys, keys seen once (in a complete bucket and in the open one), keys never
//! seen, and after a filter row was removed behind the store's back.

use audit_core::query::{AuditQuery, CountBy, Order};
use audit_core::{Actor, AuditEvent, AuditStore, StoredEvent};
use audit_sqlite::SqliteStore;
use tempfile::TempDir;

use crate::common::{Gen, db_path, fresh_store, raw, tree_as_schema_6};
use crate::queries::{all_pages, expected};

/// Four complete buckets of 8 192 events and part of a fifth.
const EVENTS: u64 = 4 * 8192 + 700;
/// Events (by index) that alone carry their actor, entity, IP and request id; the last is
/// in the open bucket.
const SOLO: [u64; 4] = [100, 9_000, 20_000, 33_200];

fn event(g: &mut Gen, i: u64) -> AuditEvent {
    let n = g.next();
    let solo = SOLO.iter().position(|&s| s == i);
    let actor = match solo {
        Some(k) => format!("solo-actor-{k}"),
        None => format!("user-{}", n % 30),
    };
    let entity = match solo {
        Some(k) => format!("solo-entity-{k}"),
        None => format!("e-{}", (n >> 8) % 500),
    };
    let ip: std::net::IpAddr = match solo {
        Some(k) => std::net::IpAddr::from([172, 16, 5, k as u8]),
        None => std::net::IpAddr::from([10, (n >> 16) as u8 % 3, (n >> 24) as u8 % 4, n as u8]),
    };
    let request = match solo {
        Some(k) => format!("solo-request-{k}"),
        None => format!("req-{}", i / 3),
    };
    AuditEvent::builder(*g.pick(&["FTMS_BOOKING_CREATED", "AUTHN_LOGIN_FAIL"]))
        .actor(Actor::user(actor))
        .entity("booking", entity)
        .ip(ip)
        .request_id(request)
        .build()
}

async fn filled() -> (SqliteStore, TempDir, Vec<StoredEvent>) {
    let (store, dir) = fresh_store();
    let mut g = Gen::new(19);
    let events: Vec<AuditEvent> = (0..EVENTS).map(|i| event(&mut g, i)).collect();
    for part in events.chunks(4_096) {
        store.append(part).await.expect("test setup");
    }
    let records = records(&store);
    (store, dir, records)
}

fn records(store: &SqliteStore) -> Vec<StoredEvent> {
    let mut records = Vec::new();
    store
        .for_each_blocking(&AuditQuery::new().order(Order::OldestFirst), |r| {
            records.push(r.clone());
            Ok(())
        })
        .expect("test setup");
    records
}

fn net(s: &str) -> ipnet::IpNet {
    s.parse().expect("network")
}

fn lookups() -> Vec<(&'static str, AuditQuery)> {
    vec![
        ("frequent actor", AuditQuery::new().actor("user-7")),
        (
            "actor seen once, bucket 0",
            AuditQuery::new().actor("solo-actor-0"),
        ),
        (
            "actor seen once, bucket 2",
            AuditQuery::new().actor("solo-actor-2"),
        ),
        (
            "actor seen once, open bucket",
            AuditQuery::new().actor("solo-actor-3"),
        ),
        ("actor never seen", AuditQuery::new().actor("nobody")),
        (
            "entity history",
            AuditQuery::new().entity_type("booking").entity_id("e-42"),
        ),
        (
            "entity seen once",
            AuditQuery::new().entity_id("solo-entity-1"),
        ),
        ("request id", AuditQuery::new().request_id("req-4000")),
        (
            "request id seen once",
            AuditQuery::new().request_id("solo-request-2"),
        ),
        (
            "CIDR /24 of one event",
            AuditQuery::new().ip_in(net("172.16.5.0/24")),
        ),
        ("CIDR /32", AuditQuery::new().ip_in(net("172.16.5.1/32"))),
        (
            "CIDR /24, frequent",
            AuditQuery::new().ip_in(net("10.1.2.0/24")),
        ),
        (
            "CIDR /16, unfiltered",
            AuditQuery::new().ip_in(net("10.2.0.0/16")),
        ),
        (
            "actor and entity",
            AuditQuery::new().actor("user-3").entity_id("e-7"),
        ),
        (
            "actor seen once and its request",
            AuditQuery::new()
                .actor("solo-actor-1")
                .request_id("solo-request-1"),
        ),
        (
            "actor seen once with another's request",
            AuditQuery::new()
                .actor("solo-actor-1")
                .request_id("solo-request-2"),
        ),
    ]
}

async fn assert_like_the_reference(store: &SqliteStore, records: &[StoredEvent]) {
    for (name, query) in lookups() {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let query = query.clone().order(order);
            let want = expected(records, &query);
            assert_eq!(all_pages(store, &query).await, want, "{name}, {order:?}");
            assert_eq!(
                store.count(&query).await.expect("count"),
                want.len() as u64,
                "{name}: count"
            );
        }
        let by_action = store
            .count_by(&query, CountBy::Action)
            .await
            .expect("count_by");
        let total: u64 = by_action.iter().map(|g| g.count).sum();
        assert_eq!(
            total,
            expected(records, &query).len() as u64,
            "{name}: count_by"
        );
    }
}

#[tokio::test]
async fn lookups_over_complete_buckets_page_and_count_like_the_reference() {
    let (store, _dir, records) = filled().await;
    for (k, &i) in SOLO.iter().enumerate() {
        let page = store
            .query(&AuditQuery::new().actor(format!("solo-actor-{k}")))
            .await
            .expect("query");
        assert_eq!(
            page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![i + 1],
            "the event seen once is found"
        );
    }
    assert_like_the_reference(&store, &records).await;
}

#[tokio::test]
async fn a_removed_or_emptied_filter_row_makes_its_bucket_sought_not_skipped() {
    let (store, dir, records) = filled().await;
    let conn = raw(&db_path(&dir));
    // As the database owner: drop the guard, then remove one filter and blank another.
    conn.execute_batch(
        "DROP TRIGGER audit_bucket_filters_no_update; DROP TRIGGER audit_bucket_filters_no_delete; \
         DELETE FROM audit_bucket_filters WHERE kind = 0 AND bucket = 0; \
         UPDATE audit_bucket_filters SET bits = x'00' WHERE kind = 1 AND bucket = 1;",
    )
    .expect("tamper");
    let reopened = SqliteStore::open(db_path(&dir)).expect("reopen");
    assert_like_the_reference(&reopened, &records).await;
    drop(store);
}

#[tokio::test]
async fn filter_rows_refuse_update_and_delete() {
    let (_store, dir, _) = filled().await;
    let conn = raw(&db_path(&dir));
    for sql in [
        "DELETE FROM audit_bucket_filters WHERE bucket = 0",
        "UPDATE audit_bucket_filters SET bits = x'' WHERE bucket = 0",
    ] {
        let err = conn.execute_batch(sql).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_schema_5_file_gets_filters_for_its_complete_buckets_when_opened() {
    let (store, dir, records) = filled().await;
    drop(store);
    // What schema 5 looked like: no filter table, a tree row per event, version 5.
    let conn = raw(&db_path(&dir));
    tree_as_schema_6(&conn);
    conn.execute_batch(
        "DROP TABLE audit_bucket_filters; \
         UPDATE audit_meta SET value = '5' WHERE key = 'schema_version';",
    )
    .expect("downgrade");
    drop(conn);
    let store = SqliteStore::open(db_path(&dir)).expect("upgrade");
    let filters: i64 = raw(&db_path(&dir))
        .query_row("SELECT count(*) FROM audit_bucket_filters", [], |r| {
            r.get(0)
        })
        .expect("count filters");
    assert_eq!(filters, 4 * 4, "four complete buckets, four kinds each");
    assert_like_the_reference(&store, &records).await;
}

#[tokio::test]
async fn a_schema_5_file_written_by_main_upgrades_and_its_keys_stay_findable() {
    // tests/fixtures/schema-v5.db: 40 events written by main's audit-sqlite (schema 5);
    // event 17 alone has actor `solo-actor` and entity `solo-entity`.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = db_path(&dir);
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v5.db"),
        &path,
    )
    .expect("copy the fixture");
    let store = SqliteStore::open(&path).expect("upgrade");
    let version: String = raw(&path)
        .query_row(
            "SELECT value FROM audit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("version");
    assert_eq!(version, audit_sqlite::SCHEMA_VERSION.to_string());
    // Grow the log past its first bucket, so the fixture's events are behind a filter.
    let mut g = Gen::new(5);
    let more: Vec<AuditEvent> = (0..8_300).map(|i| event(&mut g, 40_000 + i)).collect();
    store.append(&more).await.expect("append");
    let sealed: i64 = raw(&path)
        .query_row(
            "SELECT count(*) FROM audit_bucket_filters WHERE bucket = 0",
            [],
            |r| r.get(0),
        )
        .expect("count filters");
    assert_eq!(sealed, 4);
    for query in [
        AuditQuery::new().actor("solo-actor"),
        AuditQuery::new().entity_id("solo-entity"),
    ] {
        let page = store.query(&query).await.expect("query");
        assert_eq!(
            page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![18]
        );
    }
    let records = records(&store);
    assert_like_the_reference(&store, &records).await;
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .expect("verify")
            .is_valid()
    );
}

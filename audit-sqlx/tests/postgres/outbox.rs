//! Outbox mode: events written in the caller's transaction reach the chain only if it commits.

use std::time::Duration;

use crate::common::*;
use audit_core::AuditStore;
use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditEvent, ChainHasher};
use sqlx_core::connection::Connection;
use sqlx_postgres::PgConnection;

#[tokio::test]
async fn committed_outbox_event_is_relayed_into_the_chain() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxcommit").await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let event = event(1);
    store.record_in(&mut tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    let moved = store.relay_outbox(100).await.unwrap();
    assert_eq!(moved.len(), 1);
    let stored = store.get(moved[0].seq).await.unwrap().unwrap();
    assert_eq!(stored.event, event);
}

#[tokio::test]
async fn rolled_back_outbox_event_never_reaches_the_chain() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxrollback").await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    store.record_in(&mut tx, &event(1)).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(store.relay_outbox(100).await.unwrap().is_empty());
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 0);
}

#[tokio::test]
async fn uncommitted_outbox_event_waits_for_its_transaction() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxpending").await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    store.record_in(&mut tx, &event(1)).await.unwrap();
    assert!(store.relay_outbox(100).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    assert_eq!(store.relay_outbox(100).await.unwrap().len(), 1);
}

#[tokio::test]
async fn outbox_event_is_atomic_with_the_callers_own_write() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxatomic").await;
    let table = format!("{}.bookings", store.schema());
    exec(&url, &format!("CREATE TABLE {table} (id text PRIMARY KEY)"))
        .await
        .unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    for (id, commit) in [("b-1", true), ("b-2", false)] {
        let mut tx = conn.begin().await.unwrap();
        sqlx_core::query::query::<sqlx_postgres::Postgres>(sqlx_core::sql_str::AssertSqlSafe(
            format!("INSERT INTO {table} (id) VALUES ($1)"),
        ))
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
        let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
            .entity("booking", id)
            .build();
        store.record_in(&mut tx, &event).await.unwrap();
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
    }
    store.relay_outbox(100).await.unwrap();
    let ids: Vec<String> = all_records(&store)
        .await
        .into_iter()
        .filter_map(|r| r.event.entity_id)
        .collect();
    assert_eq!(ids, vec!["b-1"]);
}

#[tokio::test]
async fn relay_chains_outbox_rows_in_outbox_order_after_direct_writes() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxorder").await;
    store.append(&events(0..2)).await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let batch = events(10..15);
    for e in &batch {
        let mut tx = conn.begin().await.unwrap();
        store.record_in(&mut tx, e).await.unwrap();
        tx.commit().await.unwrap();
    }
    store.relay_outbox(3).await.unwrap();
    store.relay_outbox(3).await.unwrap();
    let records = all_records(&store).await;
    let relayed: Vec<_> = records[2..].iter().map(|r| r.event.id).collect();
    assert_eq!(relayed, batch.iter().map(|e| e.id).collect::<Vec<_>>());
    assert_chain_links(&records, &ChainHasher::sha256());
}

#[tokio::test]
async fn outbox_refuses_an_invalid_event_without_writing() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxinvalid").await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let err = store
        .record_in(&mut tx, &AuditEvent::builder("bad code").build())
        .await
        .unwrap_err();
    assert!(matches!(err, audit_sqlx::Error::Invalid(_)), "{err}");
    tx.commit().await.unwrap();
    assert!(store.relay_outbox(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn background_relay_moves_committed_events_without_being_called() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxrelay").await;
    let relay = store.spawn_relay(Duration::from_millis(200));
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    store.record_in(&mut tx, &event(3)).await.unwrap();
    tx.commit().await.unwrap();
    // Bounded wait for the relay (a liveness check, not a timing assertion).
    let mut relayed = 0;
    for _ in 0..400 {
        relayed = store.count(&AuditQuery::new()).await.unwrap();
        if relayed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.stop().await;
    assert_eq!(relayed, 1);
    let page = store
        .query(&AuditQuery::new().order(Order::OldestFirst))
        .await
        .unwrap();
    assert_eq!(page.events[0].seq, 1);
}

/// An event whose JSON needs careful quoting: quotes, a backslash, non-ASCII, a newline.
fn awkward_event() -> AuditEvent {
    AuditEvent::builder("FTMS_BOOKING_CREATED")
        .entity("booking", "b-9")
        .description("it's \"quoted\" \\ naïve\nsecond line")
        .metadata(serde_json::json!({"seats": 3, "note": "o'clock"}))
        .build()
}

#[tokio::test]
async fn rows_written_by_another_driver_are_relayed() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxforeign").await;
    let good = awkward_event();
    let insert = store.outbox_insert(&good).unwrap();
    // psql is another client altogether: it binds the one parameter through PREPARE/EXECUTE
    // inside its own transaction, and inserts a row that is no event beside it.
    let script = format!(
        "BEGIN;\n\
         PREPARE outbox_insert(text) AS {};\n\
         EXECUTE outbox_insert(:'event');\n\
         INSERT INTO {}.audit_outbox (event) VALUES ('{{\"hello\": 1}}');\n\
         COMMIT;\n",
        insert.statement,
        store.schema()
    );
    let psql_url = url.clone();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v"])
            .arg(format!("event={}", insert.event_json))
            .args(["-d", &psql_url, "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("psql (Debian's postgresql-client) runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let moved = store.relay_outbox(100).await.unwrap();
    assert_eq!(
        moved.len(),
        1,
        "the event joins the chain, the other row does not"
    );
    assert_eq!(store.get(moved[0].seq).await.unwrap().unwrap().event, good);
    assert!(
        store.relay_outbox(100).await.unwrap().is_empty(),
        "nothing left behind"
    );
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let rejected: Vec<(String, String)> =
        sqlx_core::query_as::query_as(sqlx_core::sql_str::AssertSqlSafe(format!(
            "SELECT event, reason FROM {}.audit_outbox_rejected",
            store.schema()
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, r#"{"hello": 1}"#);
    assert!(rejected[0].1.contains("not an audit event"), "{rejected:?}");
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn outbox_insert_refuses_an_invalid_event() {
    let url = require_pg!();
    let store = fresh_store(&url, "outboxforeignbad").await;
    let err = store
        .outbox_insert(&AuditEvent::builder("not a code").build())
        .unwrap_err();
    assert!(matches!(err, audit_sqlx::Error::Invalid(_)), "{err}");
}

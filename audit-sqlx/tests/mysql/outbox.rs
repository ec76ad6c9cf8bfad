//! Outbox mode: events written in the caller's transaction reach the chain only if it
//! commits; rows that are not events do not stop the relay.

use std::time::Duration;

use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditEvent, AuditStore, ChainHasher};
use sqlx_core::connection::Connection;
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::MySql;

use crate::common::*;

#[tokio::test]
async fn committed_outbox_event_is_relayed_into_the_chain() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxcommit").await;
    let mut conn = connect(&url).await;
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
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxrollback").await;
    let mut conn = connect(&url).await;
    let mut tx = conn.begin().await.unwrap();
    store.record_in(&mut tx, &event(1)).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(store.relay_outbox(100).await.unwrap().is_empty());
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 0);
}

#[tokio::test]
async fn uncommitted_outbox_event_waits_for_its_transaction() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxpending").await;
    let mut conn = connect(&url).await;
    let mut tx = conn.begin().await.unwrap();
    store.record_in(&mut tx, &event(1)).await.unwrap();
    assert!(store.relay_outbox(100).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    assert_eq!(store.relay_outbox(100).await.unwrap().len(), 1);
}

#[tokio::test]
async fn outbox_event_is_atomic_with_the_callers_own_write() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxatomic").await;
    let bookings = format!("`{}`.bookings", store.database().unwrap());
    exec(
        &url,
        &format!("CREATE TABLE {bookings} (id VARCHAR(20) PRIMARY KEY) ENGINE = InnoDB"),
    )
    .await
    .unwrap();
    let mut conn = connect(&url).await;
    for (id, commit) in [("b-1", true), ("b-2", false)] {
        let mut tx = conn.begin().await.unwrap();
        query::<MySql>(AssertSqlSafe(format!(
            "INSERT INTO {bookings} (id) VALUES (?)"
        )))
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
    let kept: Vec<String> =
        query_scalar::<MySql, String>(AssertSqlSafe(format!("SELECT id FROM {bookings}")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(kept, vec!["b-1"]);
}

#[tokio::test]
async fn relay_chains_outbox_rows_in_outbox_order_after_direct_writes() {
    let url = require_mysql!();
    let store = store_with(&url, "outboxorder", 2).await;
    let mut conn = connect(&url).await;
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
async fn a_row_committed_late_with_a_lower_id_is_not_lost() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxlate").await;
    let mut early = connect(&url).await;
    let mut late = connect(&url).await;
    // `early` takes the lower outbox id but commits after `late` and after a relay ran.
    let mut slow = early.begin().await.unwrap();
    store.record_in(&mut slow, &event(1)).await.unwrap();
    let mut fast = late.begin().await.unwrap();
    store.record_in(&mut fast, &event(2)).await.unwrap();
    fast.commit().await.unwrap();
    assert_eq!(store.relay_outbox(100).await.unwrap().len(), 1);
    slow.commit().await.unwrap();
    assert_eq!(store.relay_outbox(100).await.unwrap().len(), 1);
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 2);
}

#[tokio::test]
async fn outbox_refuses_an_invalid_event_without_writing() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxinvalid").await;
    let mut conn = connect(&url).await;
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
async fn a_row_that_is_not_an_event_is_set_aside_and_the_relay_goes_on() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxgarbage").await;
    let outbox = table(&store, "outbox");
    exec(
        &url,
        &format!(
            "INSERT INTO {outbox} (event) VALUES ('not json'), \
             ('{{\"id\":\"0190a000-0000-7000-8000-000000000000\",\"action\":\"bad code\"}}')"
        ),
    )
    .await
    .unwrap();
    let mut conn = connect(&url).await;
    let mut tx = conn.begin().await.unwrap();
    store.record_in(&mut tx, &event(1)).await.unwrap();
    tx.commit().await.unwrap();

    let moved = store.relay_outbox(100).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert!(store.relay_outbox(100).await.unwrap().is_empty());
    let rejected: Vec<String> = query_scalar::<MySql, String>(AssertSqlSafe(format!(
        "SELECT event FROM {} ORDER BY id",
        table(&store, "outbox_rejected")
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0], "not json");
}

#[tokio::test]
async fn background_relay_moves_committed_events_without_being_called() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxrelay").await;
    let relay = store.spawn_relay(Duration::from_millis(100));
    let mut conn = connect(&url).await;
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

#[tokio::test]
async fn rows_written_by_another_driver_are_relayed() {
    let url = require_mysql!();
    let store = fresh_store(&url, "outboxforeign").await;
    let good = AuditEvent::builder("FTMS_BOOKING_CREATED")
        .entity("booking", "b-9")
        .description("it's \"quoted\" \\ naïve\nsecond line")
        .metadata(serde_json::json!({"seats": 3, "note": "o'clock"}))
        .build();
    let insert = store.outbox_insert(&good).unwrap();
    // The mariadb client is another driver altogether: it binds the one parameter through
    // PREPARE/EXECUTE inside its own transaction (the value as hex, so no quoting is needed).
    let hex: String = insert
        .event_json
        .bytes()
        .map(|b| format!("{b:02X}"))
        .collect();
    let script = format!(
        "START TRANSACTION;\n\
         SET @event = CONVERT(X'{hex}' USING utf8mb4);\n\
         PREPARE outbox_insert FROM '{}';\n\
         EXECUTE outbox_insert USING @event;\n\
         COMMIT;\n",
        insert.statement
    );
    let (user, rest) = url.trim_start_matches("mysql://").split_once('@').unwrap();
    let (user, password) = user.split_once(':').unwrap();
    let (host, port) = rest.split('/').next().unwrap().split_once(':').unwrap();
    let output = std::process::Command::new("mariadb")
        .args(["--host", host, "--port", port, "--user", user])
        .arg(format!("--password={password}"))
        .args(["--execute", &script])
        .output()
        .expect("the mariadb client (Debian's mariadb-client) runs");
    assert!(
        output.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let moved = store.relay_outbox(100).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(store.get(moved[0].seq).await.unwrap().unwrap().event, good);
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

//! Archival: the archive verifies alone, the live chain verifies from its new start.

use crate::common::{db_path, epoch, fresh_store, raw};
use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditEvent, AuditStore, ChainHasher, StoredEvent};
use audit_sqlite::{ARCHIVED_ACTION, Error, SqliteOptions, SqliteStore, verify_archive};
use chrono::Duration;

/// 30 events an hour apart from the epoch.
fn hourly(n: i64) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .occurred_at(epoch() + Duration::hours(i))
                .entity("booking", format!("b-{i}"))
                .build()
        })
        .collect()
}

#[tokio::test]
async fn archive_moves_the_older_prefix_and_both_parts_verify() {
    let (store, dir) = fresh_store();
    store.append(&hourly(30)).await.unwrap();
    let path = dir.path().join("archive.jsonl");
    let report = store
        .archive(epoch() + Duration::hours(20), &path)
        .await
        .unwrap();
    assert_eq!((report.from_seq, report.to_seq, report.count), (1, 20, 20));

    let alone = verify_archive(&path, store.hasher()).unwrap();
    assert!(alone.report.is_valid(), "{:?}", alone.report);
    assert_eq!(alone.report.checked, 20);
    assert_eq!(alone.sha256, report.sha256);

    let live = store.verify(Default::default(), None).await.unwrap();
    assert!(live.is_valid(), "{live:?}");
    assert_eq!(
        live.checked, 11,
        "10 remaining events and the AUDIT_ARCHIVED event"
    );
}

#[tokio::test]
async fn archive_records_an_event_naming_the_range_and_hash() {
    let (store, dir) = fresh_store();
    store.append(&hourly(10)).await.unwrap();
    let path = dir.path().join("a.jsonl");
    let report = store
        .archive(epoch() + Duration::hours(4), &path)
        .await
        .unwrap();
    let page = store
        .query(&AuditQuery::new().action(ARCHIVED_ACTION))
        .await
        .unwrap();
    let event: &StoredEvent = &page.events[0];
    assert_eq!(Some(event.seq), report.event_seq);
    assert_eq!(event.seq, 11);
    let meta = &event.event.metadata;
    assert_eq!(meta["from_seq"], 1);
    assert_eq!(meta["to_seq"], 4);
    assert_eq!(meta["archive_sha256"], report.sha256.as_str());
}

#[tokio::test]
async fn archive_keeps_the_chain_going_after_it() {
    let (store, dir) = fresh_store();
    store.append(&hourly(10)).await.unwrap();
    store
        .archive(epoch() + Duration::hours(5), dir.path().join("a.jsonl"))
        .await
        .unwrap();
    let positions = store.append(&hourly(3)).await.unwrap();
    assert_eq!(positions[0].seq, 12);
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
    let oldest = store
        .query(&AuditQuery::new().order(Order::OldestFirst).limit(1))
        .await
        .unwrap();
    assert_eq!(oldest.events[0].seq, 6);
}

#[tokio::test]
async fn archive_stops_at_the_first_event_after_the_cut_off() {
    let (store, dir) = fresh_store();
    let mut batch = hourly(6);
    // A late clock: seq 3 happened "after" the cut-off, so only seqs 1 and 2 may go.
    batch[2] = AuditEvent::builder("LATE")
        .occurred_at(epoch() + Duration::days(9))
        .build();
    store.append(&batch).await.unwrap();
    let report = store
        .archive(epoch() + Duration::hours(5), dir.path().join("a.jsonl"))
        .await
        .unwrap();
    assert_eq!((report.from_seq, report.to_seq), (1, 2));
}

#[tokio::test]
async fn two_archives_each_verify_alone() {
    let (store, dir) = fresh_store();
    store.append(&hourly(20)).await.unwrap();
    let first = dir.path().join("1.jsonl");
    let second = dir.path().join("2.jsonl");
    store
        .archive(epoch() + Duration::hours(5), &first)
        .await
        .unwrap();
    store
        .archive(epoch() + Duration::hours(12), &second)
        .await
        .unwrap();
    for path in [&first, &second] {
        let result = verify_archive(path, store.hasher()).unwrap();
        assert!(result.report.is_valid(), "{path:?}: {:?}", result.report);
    }
    assert_eq!(
        verify_archive(&second, store.hasher())
            .unwrap()
            .header
            .anchor
            .seq,
        5
    );
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn nothing_older_than_the_cut_off_writes_nothing() {
    let (store, dir) = fresh_store();
    store.append(&hourly(3)).await.unwrap();
    let path = dir.path().join("none.jsonl");
    let report = store.archive(epoch(), &path).await.unwrap();
    assert_eq!(report.count, 0);
    assert!(!path.exists());
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn an_existing_archive_file_is_not_overwritten() {
    let (store, dir) = fresh_store();
    store.append(&hourly(3)).await.unwrap();
    let path = dir.path().join("taken.jsonl");
    std::fs::write(&path, "keep me").unwrap();
    let err = store
        .archive(epoch() + Duration::hours(2), &path)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn a_broken_chain_is_not_archived() {
    let (store, dir) = fresh_store();
    store.append(&hourly(10)).await.unwrap();
    let conn = raw(&db_path(&dir));
    conn.execute_batch(
        "DROP TRIGGER audit_events_no_update;
         UPDATE audit_events SET entity_id = 'forged' WHERE seq = 3;",
    )
    .unwrap();
    let path = dir.path().join("a.jsonl");
    let err = store
        .archive(epoch() + Duration::hours(8), &path)
        .await
        .unwrap_err();
    match err {
        Error::ChainBroken(fault) => assert_eq!(fault.seq, 3),
        other => panic!("expected ChainBroken, got {other:?}"),
    }
    assert!(!path.exists());
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 10);
}

#[tokio::test]
async fn a_modified_archive_line_fails_its_verification() {
    let (store, dir) = fresh_store();
    store.append(&hourly(10)).await.unwrap();
    let path = dir.path().join("a.jsonl");
    store
        .archive(epoch() + Duration::hours(8), &path)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"b-4\"", "\"b-44\"", 1)).unwrap();
    let report = verify_archive(&path, store.hasher()).unwrap().report;
    assert_eq!(report.fault.map(|f| f.seq), Some(5));
}

#[tokio::test]
async fn a_truncated_archive_fails_its_verification() {
    let (store, dir) = fresh_store();
    store.append(&hourly(10)).await.unwrap();
    let path = dir.path().join("a.jsonl");
    store
        .archive(epoch() + Duration::hours(8), &path)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(6).collect();
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    let report = verify_archive(&path, store.hasher()).unwrap().report;
    assert_eq!(
        report.fault.map(|f| f.kind),
        Some(audit_core::chain::FaultKind::Truncated)
    );
}

#[tokio::test]
async fn an_hmac_archive_needs_the_key_to_verify() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::hmac_sha256(b"archive key");
    let store =
        SqliteStore::open_with(SqliteOptions::new(db_path(&dir)).hasher(hasher.clone())).unwrap();
    store.append(&hourly(5)).await.unwrap();
    let path = dir.path().join("a.jsonl");
    store
        .archive(epoch() + Duration::hours(3), &path)
        .await
        .unwrap();
    assert!(verify_archive(&path, &hasher).unwrap().report.is_valid());
    let wrong = verify_archive(&path, &ChainHasher::hmac_sha256(b"other key")).unwrap();
    assert!(!wrong.report.is_valid());
}

#[tokio::test]
async fn the_retention_gate_is_closed_after_archival() {
    let (store, dir) = fresh_store();
    store.append(&hourly(10)).await.unwrap();
    store
        .archive(epoch() + Duration::hours(4), dir.path().join("a.jsonl"))
        .await
        .unwrap();
    let err = raw(&db_path(&dir))
        .execute("DELETE FROM audit_events WHERE seq = 6", [])
        .unwrap_err();
    // Another connection has no gate function at all: the trigger cannot let it through.
    assert!(err.to_string().contains("append_only"), "{err}");
}

#[tokio::test]
async fn no_sql_can_open_the_retention_gate() {
    let (store, dir) = fresh_store();
    store.append(&hourly(10)).await.unwrap();
    let conn = raw(&db_path(&dir));
    // What opened the gate of schema 3: a row in a gate table.
    conn.execute_batch(
        "CREATE TABLE audit_retention_gate (upto_seq INTEGER NOT NULL); \
         INSERT INTO audit_retention_gate VALUES (100);",
    )
    .unwrap();
    assert!(
        conn.execute("DELETE FROM audit_events WHERE seq = 1", [])
            .is_err()
    );
    // A look-alike function on the attacker's own connection does open it there; the
    // chain then reports the hole, and the store's own writer re-arms nothing less.
    conn.create_scalar_function(
        "audit_append_only_retention_gate",
        0,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
        |_| Ok(100i64),
    )
    .unwrap();
    conn.execute("DELETE FROM audit_events WHERE seq = 1", [])
        .unwrap();
    let report = store.verify(Default::default(), None).await.unwrap();
    assert_eq!(report.fault.unwrap().seq, 1);
}

#[tokio::test]
async fn a_weakened_delete_trigger_is_restored_when_the_store_opens() {
    let (store, dir) = fresh_store();
    store.append(&hourly(3)).await.unwrap();
    drop(store);
    let conn = raw(&db_path(&dir));
    conn.execute_batch(
        "DROP TRIGGER audit_events_no_delete; \
         CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
         WHEN 0 BEGIN SELECT 1; END;",
    )
    .unwrap();
    drop(conn);
    let _store = SqliteStore::open(db_path(&dir)).unwrap();
    let err = raw(&db_path(&dir))
        .execute("DELETE FROM audit_events WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append_only"), "{err}");
}

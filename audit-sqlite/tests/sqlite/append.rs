//! Writing: positions, transactions of its own, append-only enforcement, replays.

use crate::common::{db_path, events, fresh_store, raw};
use audit_core::{AuditEvent, AuditQuery, AuditSink, AuditStore};
use audit_sqlite::Error;

#[tokio::test]
async fn a_batch_gets_consecutive_seqs_from_one() {
    let (store, _dir) = fresh_store();
    let ack = store.write(&events(5, "A_ONE")).await.unwrap();
    let seqs: Vec<u64> = (0..5).map(|i| ack.position(i).unwrap().seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn receipts_carry_the_stored_hashes() {
    let (store, _dir) = fresh_store();
    let positions = store.append(&events(3, "A_ONE")).await.unwrap();
    for p in positions {
        let stored = store.get(p.seq).await.unwrap().unwrap();
        assert_eq!(stored.hash, p.hash);
    }
}

#[tokio::test]
async fn stored_events_read_back_unchanged() {
    let (store, _dir) = fresh_store();
    let written = crate::common::varied_events(7, 40);
    store.append(&written.clone()).await.unwrap();
    for (i, event) in written.iter().enumerate() {
        let stored = store.get(i as u64 + 1).await.unwrap().unwrap();
        assert_eq!(&stored.event, event);
    }
}

#[tokio::test]
async fn consecutive_batches_form_one_valid_chain() {
    let (store, _dir) = fresh_store();
    for _ in 0..4 {
        store.append(&events(25, "A_ONE")).await.unwrap();
    }
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 100);
}

#[tokio::test]
async fn an_invalid_event_rejects_its_whole_batch() {
    let (store, _dir) = fresh_store();
    let mut batch = events(3, "A_ONE");
    batch.push(AuditEvent::builder("drop table;").build());
    let err = store.append(&batch).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidEvent { index: 3, .. }),
        "{err:?}"
    );
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 0);
}

#[tokio::test]
async fn an_invalid_event_is_a_permanent_sink_error() {
    let (store, _dir) = fresh_store();
    let batch = vec![
        AuditEvent::builder("A")
            .metadata(serde_json::json!([1]))
            .build(),
    ];
    let err = store.write(&batch).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn a_replayed_batch_is_not_stored_twice() {
    let (store, _dir) = fresh_store();
    let batch = events(3, "A_ONE");
    let first = store.append(&batch.clone()).await.unwrap();
    let mut replay = batch;
    replay.extend(events(1, "A_TWO"));
    let second = store.append(&replay).await.unwrap();
    assert_eq!(&second[..3], &first[..]);
    assert_eq!(second[3].seq, 4);
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 4);
}

#[tokio::test]
async fn update_through_a_normal_connection_is_refused() {
    let (store, dir) = fresh_store();
    store.append(&events(1, "A_ONE")).await.unwrap();
    let err = raw(&db_path(&dir))
        .execute("UPDATE audit_events SET action = 'B' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn delete_through_a_normal_connection_is_refused() {
    let (store, dir) = fresh_store();
    store.append(&events(1, "A_ONE")).await.unwrap();
    let err = raw(&db_path(&dir))
        .execute("DELETE FROM audit_events", [])
        .unwrap_err();
    assert!(err.to_string().contains("append_only"), "{err}");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stay_committed_when_the_callers_transaction_rolls_back() {
    let (store, dir) = fresh_store();
    let mut app = raw(&db_path(&dir));
    app.execute_batch("CREATE TABLE bookings (id INTEGER PRIMARY KEY, seats INTEGER);")
        .unwrap();

    let tx = app.transaction().unwrap();
    tx.execute("INSERT INTO bookings (seats) VALUES (2)", [])
        .unwrap();
    // The audit write goes through the store's own connection: it waits for the caller's
    // write lock instead of joining the caller's transaction.
    let pending = tokio::spawn({
        let store = store.clone();
        async move { store.write(&events(1, "FTMS_BOOKING_CREATED")).await }
    });
    tx.rollback().unwrap();
    pending.await.unwrap().unwrap();

    let bookings: i64 = app
        .query_row("SELECT count(*) FROM bookings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bookings, 0);
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 1);
}

#[tokio::test]
async fn a_second_store_on_the_same_file_extends_the_same_chain() {
    let (first, dir) = fresh_store();
    let second = audit_sqlite::SqliteStore::open(db_path(&dir)).unwrap();
    for round in 0..5 {
        let (a, b) = if round % 2 == 0 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        a.append(&events(3, "A_ONE")).await.unwrap();
        b.append(&events(2, "A_TWO")).await.unwrap();
    }
    let report = first.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 25);
}

#[tokio::test]
async fn head_is_the_last_position() {
    let (store, _dir) = fresh_store();
    assert_eq!(store.head().await.unwrap(), None);
    let positions = store.append(&events(4, "A_ONE")).await.unwrap();
    let head = store.head().await.unwrap().unwrap();
    assert_eq!((head.seq, head.hash), (4, positions[3].hash));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_each_get_their_own_stored_positions() {
    // Appends waiting behind one another are committed together (group commit); each caller
    // must still get the positions of its own events.
    let (store, _dir) = fresh_store();
    let tasks: Vec<_> = (0..40)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch = events(25, &format!("A_TASK_{t}"));
                let positions = store.append(&batch.clone()).await.unwrap();
                (batch, positions)
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        let (batch, positions) = task.await.unwrap();
        assert_eq!(positions.len(), batch.len());
        for (event, position) in batch.iter().zip(&positions) {
            let stored = store.get(position.seq).await.unwrap().unwrap();
            assert_eq!((stored.event.id, stored.hash), (event.id, position.hash));
        }
        seqs.extend(positions.iter().map(|p| p.seq));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=1000).collect::<Vec<u64>>());
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_batch_among_concurrent_appends_fails_alone() {
    let (store, _dir) = fresh_store();
    let tasks: Vec<_> = (0..20)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut batch = events(10, "A_ONE");
                if t == 7 {
                    batch.push(AuditEvent::builder("drop table;").build());
                }
                (t, store.append(&batch).await)
            })
        })
        .collect();
    for task in tasks {
        match task.await.unwrap() {
            (7, result) => assert!(
                matches!(result, Err(Error::InvalidEvent { index: 10, .. })),
                "{result:?}"
            ),
            (_, result) => assert_eq!(result.unwrap().len(), 10),
        }
    }
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 190);
}

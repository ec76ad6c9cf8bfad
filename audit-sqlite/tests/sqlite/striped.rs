//! Verification read in stripes, one connection per thread on one snapshot: the report is the
//! one-thread report whatever the log holds, including rows far beyond its head, and a write
//! lock held elsewhere only makes it read on one connection.

use std::time::Duration;

use audit_core::AuditStore;
use audit_core::chain::{FaultKind, Parallelism};
use audit_core::store::VerifyScope;
use audit_sqlite::{SqliteOptions, SqliteStore};

use crate::common::{db_path, events, fresh_store, raw, verify_every_way};

/// Two threads, stripes of 8 seqs: a 300-event chain is read in 38 stripes.
fn striped() -> Parallelism {
    Parallelism::threads(2).chunk_size(8)
}

#[tokio::test]
async fn a_row_copied_far_beyond_the_head_is_found_without_reading_a_stripe_per_seq() {
    let (store, dir) = fresh_store();
    store.append(&events(300, "LOGIN")).await.unwrap();
    let conn = raw(&db_path(&dir));
    // 2^62: one stripe of 8 seqs per step would be 5.8 × 10^17 stripes.
    conn.execute_batch(
        "INSERT INTO audit_events SELECT 4611686018427387904, randomblob(16), occurred_at,
             action, category, outcome, reason, actor_kind, actor_id, entity_type, entity_id,
             description, ip, user_agent, request_id, session_id, tenant, severity, metadata,
             prev_hash, hash
         FROM audit_events WHERE seq = 300",
    )
    .unwrap();
    let report = verify_every_way(&store, VerifyScope::All, None).await;
    let fault = report.fault.expect("the copy is found");
    assert_eq!((fault.seq, fault.kind), (301, FaultKind::Missing));
    assert_eq!(report.checked, 300);
}

#[tokio::test]
async fn seqs_missing_in_the_middle_of_a_long_chain_are_found_at_the_first() {
    let (store, dir) = fresh_store();
    store.append(&events(300, "LOGIN")).await.unwrap();
    let conn = raw(&db_path(&dir));
    conn.execute_batch(
        "DROP TRIGGER audit_events_no_delete;
         DELETE FROM audit_events WHERE seq BETWEEN 150 AND 170;",
    )
    .unwrap();
    for scope in [VerifyScope::All, VerifyScope::Range { from: 20, to: 290 }] {
        let report = verify_every_way(&store, scope, None).await;
        let fault = report.fault.expect("the gap is found");
        assert_eq!(
            (fault.seq, fault.kind),
            (150, FaultKind::Missing),
            "{scope:?}"
        );
    }
}

#[tokio::test]
async fn a_write_lock_held_elsewhere_makes_verification_read_on_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store =
        SqliteStore::open_with(SqliteOptions::new(&path).busy_timeout(Duration::from_millis(50)))
            .unwrap();
    store.append(&events(300, "LOGIN")).await.unwrap();
    let expected = store
        .verify_chain_with(VerifyScope::All, None, Parallelism::sequential())
        .await
        .unwrap();
    let holder = raw(&path);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let report = store
        .verify_chain_with(VerifyScope::All, None, striped())
        .await
        .unwrap();
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(report.is_valid(), "{:?}", report.fault);
    assert_eq!(report.checked, 300);
    let head = |r: &audit_core::chain::VerifyReport| r.head.map(|h| (h.seq, h.hash));
    assert_eq!(head(&report), head(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_in_stripes_beside_a_busy_writer_reports_one_state_of_the_log() {
    let (store, _dir) = fresh_store();
    store.append(&events(2_000, "LOGIN")).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..40 {
                store.append(&events(50, "LOGOUT")).await.unwrap();
            }
        })
    };
    let mut reports = Vec::new();
    while !writer.is_finished() {
        reports.push(
            store
                .verify_chain_with(VerifyScope::All, None, striped())
                .await
                .unwrap(),
        );
    }
    writer.await.unwrap();
    assert!(!reports.is_empty());
    for report in reports {
        assert!(report.is_valid(), "{:?}", report.fault);
        let head = report.head.expect("a head");
        // Every record up to the head it saw, and the head is a state the log was in.
        assert_eq!(head.seq, report.checked);
        assert_eq!((head.seq - 2_000) % 50, 0);
        let stored = store
            .get(head.seq)
            .await
            .unwrap()
            .expect("the head's record");
        assert_eq!(stored.hash, head.hash);
    }
}

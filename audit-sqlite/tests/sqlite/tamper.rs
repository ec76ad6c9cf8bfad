//! Tampering done behind the store's back (triggers dropped) is found at the right seq.

use crate::common::{db_path, events, fresh_store, raw, verify_every_way};
use audit_core::AuditStore;
use audit_core::chain::{ChainAnchor, FaultKind, VerifyReport};
use audit_core::store::VerifyScope;
use audit_sqlite::SqliteStore;
use tempfile::TempDir;

/// A store holding 10 events, and a raw connection with the append-only triggers dropped.
async fn ten_events() -> (SqliteStore, TempDir, rusqlite::Connection) {
    let (store, dir) = fresh_store();
    store
        .append(&events(10, "FTMS_BOOKING_CREATED"))
        .await
        .expect("test setup");
    let conn = raw(&db_path(&dir));
    conn.execute_batch("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;")
        .expect("test setup");
    (store, dir, conn)
}

async fn verify_all(store: &SqliteStore) -> VerifyReport {
    verify_every_way(store, VerifyScope::All, None).await
}

fn fault(report: &VerifyReport) -> (u64, FaultKind) {
    let fault = report.fault.as_ref().expect("a fault");
    (fault.seq, fault.kind)
}

#[tokio::test]
async fn an_update_with_triggers_dropped_is_modified_at_its_seq() {
    let (store, _dir, conn) = ten_events().await;
    conn.execute(
        "UPDATE audit_events SET actor_id = 'mallory' WHERE seq = 6",
        [],
    )
    .unwrap();
    assert_eq!(fault(&verify_all(&store).await), (6, FaultKind::Modified));
}

#[tokio::test]
async fn a_row_that_no_longer_decodes_is_modified_at_its_seq() {
    let (store, _dir, conn) = ten_events().await;
    conn.execute(
        "UPDATE audit_events SET category = 'bogus' WHERE seq = 4",
        [],
    )
    .unwrap();
    assert_eq!(fault(&verify_all(&store).await), (4, FaultKind::Modified));
}

#[tokio::test]
async fn a_deleted_row_is_missing_at_its_seq() {
    let (store, _dir, conn) = ten_events().await;
    conn.execute("DELETE FROM audit_events WHERE seq = 5", [])
        .unwrap();
    assert_eq!(fault(&verify_all(&store).await), (5, FaultKind::Missing));
}

#[tokio::test]
async fn an_inserted_row_is_inserted_at_its_seq() {
    let (store, _dir, conn) = ten_events().await;
    // Make room at seq 5 (two steps, so the primary key never collides), then forge a row
    // linked to record 4, as an attacker without the key would.
    conn.execute_batch(
        "UPDATE audit_events SET seq = -seq WHERE seq >= 5;
         UPDATE audit_events SET seq = 1 - seq WHERE seq < 0;
         INSERT INTO audit_events
             SELECT 5, randomblob(16), occurred_at, 'FORGED_EVENT', category, outcome, reason,
                    actor_kind, actor_id, entity_type, entity_id, description, ip, user_agent,
                    request_id, session_id, tenant, severity, metadata, hash, randomblob(32)
             FROM audit_events WHERE seq = 4;",
    )
    .unwrap();
    assert_eq!(fault(&verify_all(&store).await), (5, FaultKind::Inserted));
}

#[tokio::test]
async fn swapped_rows_are_reordered_at_the_first() {
    let (store, _dir, conn) = ten_events().await;
    conn.execute_batch(
        "UPDATE audit_events SET seq = -7 WHERE seq = 7;
         UPDATE audit_events SET seq = 7 WHERE seq = 8;
         UPDATE audit_events SET seq = 8 WHERE seq = -7;",
    )
    .unwrap();
    assert_eq!(fault(&verify_all(&store).await), (7, FaultKind::Reordered));
}

#[tokio::test]
async fn a_truncated_tail_is_found_against_a_checkpoint() {
    let (store, _dir, conn) = ten_events().await;
    let checkpoint = store.head().await.unwrap().unwrap();
    conn.execute("DELETE FROM audit_events WHERE seq > 8", [])
        .unwrap();
    assert!(
        verify_all(&store).await.is_valid(),
        "undetectable without a checkpoint"
    );
    let report = verify_every_way(&store, VerifyScope::All, Some(&checkpoint)).await;
    assert_eq!(fault(&report), (10, FaultKind::Truncated));
}

#[tokio::test]
async fn a_checkpoint_inside_the_chain_that_still_matches_is_valid() {
    let (store, _dir) = fresh_store();
    store.append(&events(5, "A_ONE")).await.unwrap();
    let checkpoint = store.head().await.unwrap().unwrap();
    store.append(&events(5, "A_TWO")).await.unwrap();
    let report = verify_every_way(&store, VerifyScope::All, Some(&checkpoint)).await;
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test]
async fn a_range_is_verified_from_the_record_before_it() {
    let (store, _dir, conn) = ten_events().await;
    conn.execute(
        "UPDATE audit_events SET action = 'CHANGED' WHERE seq = 2",
        [],
    )
    .unwrap();
    let clean = verify_every_way(&store, VerifyScope::Range { from: 4, to: 9 }, None).await;
    assert!(clean.is_valid(), "{clean:?}");
    assert_eq!(clean.checked, 6);
    let dirty = verify_every_way(&store, VerifyScope::Range { from: 1, to: 3 }, None).await;
    assert_eq!(fault(&dirty), (2, FaultKind::Modified));
}

#[tokio::test]
async fn verification_after_a_trusted_anchor_skips_the_records_before_it() {
    let (store, _dir, conn) = ten_events().await;
    let anchor_record = store.get(6).await.unwrap().unwrap();
    conn.execute(
        "UPDATE audit_events SET action = 'CHANGED' WHERE seq = 3",
        [],
    )
    .unwrap();
    let anchor = ChainAnchor {
        seq: 6,
        hash: anchor_record.hash,
    };
    let report = verify_every_way(&store, VerifyScope::After(anchor), None).await;
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 4);
}

#[tokio::test]
async fn an_empty_range_is_an_invalid_request() {
    let (store, _dir) = fresh_store();
    let err = store
        .verify(VerifyScope::Range { from: 5, to: 2 }, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, audit_core::StoreError::InvalidRequest(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_row_that_no_longer_decodes_is_modified_at_its_seq_even_against_a_checkpoint() {
    let (store, _dir, conn) = ten_events().await;
    let head = store.head().await.unwrap().unwrap();
    conn.execute(
        "UPDATE audit_events SET category = 'bogus' WHERE seq = 4",
        [],
    )
    .unwrap();
    let report = verify_every_way(&store, VerifyScope::All, Some(&head)).await;
    assert_eq!(
        fault(&report),
        (4, FaultKind::Modified),
        "not truncated at 10"
    );
}

#[tokio::test]
async fn a_removed_prefix_with_the_anchor_moved_is_missing_even_against_a_checkpoint() {
    let (store, _dir, conn) = ten_events().await;
    let head = store.head().await.unwrap().unwrap();
    let hash3: Vec<u8> = conn
        .query_row("SELECT hash FROM audit_events WHERE seq = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute("DELETE FROM audit_events WHERE seq <= 3", [])
        .unwrap();
    // The anchor lives in a writable table: moved to where the live log now starts.
    conn.execute_batch(&format!(
        "INSERT INTO audit_meta (key, value) VALUES ('anchor_seq', '3') \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value; \
         INSERT INTO audit_meta (key, value) VALUES ('anchor_hash', '{}') \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value;",
        hex::encode(&hash3)
    ))
    .unwrap();
    let report = verify_every_way(&store, VerifyScope::All, Some(&head)).await;
    assert_eq!(fault(&report), (1, FaultKind::Missing));
    // Also with a forged archive row: no AUDIT_ARCHIVED record in the chain vouches for it.
    conn.execute(
        "INSERT INTO audit_archives (archived_at, from_seq, to_seq, anchor_hash, last_hash, \
         file_sha256, file_name) VALUES (0, 1, 3, ?1, ?2, x'00', 'forged.jsonl')",
        rusqlite::params![vec![0u8; 32], hash3],
    )
    .unwrap();
    let report = verify_every_way(&store, VerifyScope::All, Some(&head)).await;
    assert_eq!(fault(&report), (1, FaultKind::Missing));
}

#[tokio::test]
async fn a_copied_row_given_a_new_id_is_inserted_at_the_copy() {
    let (store, _dir, conn) = ten_events().await;
    // Copy record 8 under a new id, chained like the original (plain SHA-256, what a writer
    // without a key can compute), right after it; the later records move up by one.
    let original = store.get(8).await.unwrap().unwrap();
    let mut copy = original.event.clone();
    copy.id = uuid::Uuid::now_v7();
    let hash = audit_core::ChainHasher::sha256().hash(&original.prev_hash, &copy);
    conn.execute_batch("UPDATE audit_events SET seq = seq + 100 WHERE seq > 8; UPDATE audit_events SET seq = seq - 99 WHERE seq > 100;")
        .unwrap();
    conn.execute(
        "INSERT INTO audit_events SELECT 9, ?1, occurred_at, action, category, outcome, reason, \
         actor_kind, actor_id, entity_type, entity_id, description, ip, user_agent, \
         request_id, session_id, tenant, severity, metadata, prev_hash, ?2 \
         FROM audit_events WHERE seq = 8",
        rusqlite::params![&copy.id.as_bytes()[..], &hash.as_bytes()[..]],
    )
    .unwrap();
    assert_eq!(fault(&verify_all(&store).await), (9, FaultKind::Inserted));
}

/// One tampering of rows `a` and `b` (1 ≤ a < b ≤ 40) as SQL run behind the store's back.
fn tampering(kind: u64, a: u64, b: u64) -> String {
    match kind {
        0 => format!("UPDATE audit_events SET actor_id = 'mallory' WHERE seq = {a}"),
        1 => format!("UPDATE audit_events SET category = 'bogus' WHERE seq = {a}"),
        2 => format!("UPDATE audit_events SET id = x'0102' WHERE seq = {a}"),
        3 => format!("UPDATE audit_events SET metadata = 'not json' WHERE seq = {a}"),
        4 => format!("UPDATE audit_events SET occurred_at = 'soon' WHERE seq = {a}"),
        5 => format!("UPDATE audit_events SET hash = randomblob(32) WHERE seq = {a}"),
        6 => format!("UPDATE audit_events SET prev_hash = x'00' WHERE seq = {a}"),
        7 => format!("DELETE FROM audit_events WHERE seq = {a}"),
        8 => format!("DELETE FROM audit_events WHERE seq >= {b}"),
        9 => format!(
            "UPDATE audit_events SET seq = -{a} WHERE seq = {a};
             UPDATE audit_events SET seq = {a} WHERE seq = {b};
             UPDATE audit_events SET seq = {b} WHERE seq = -{a};"
        ),
        10 => format!(
            "DELETE FROM audit_events WHERE seq = {a};
             UPDATE audit_events SET seq = 1 - seq WHERE seq > {a};
             UPDATE audit_events SET seq = -seq WHERE seq < 0;"
        ),
        11 => format!(
            "UPDATE audit_events SET seq = -seq WHERE seq > {a};
             UPDATE audit_events SET seq = 1 - seq WHERE seq < 0;
             INSERT INTO audit_events SELECT {a} + 1, randomblob(16), occurred_at, action,
                 category, outcome, reason, actor_kind, actor_id, entity_type, entity_id,
                 description, ip, user_agent, request_id, session_id, tenant, severity,
                 metadata, prev_hash, hash
             FROM audit_events WHERE seq = {a};"
        ),
        _ => format!("UPDATE audit_events SET seq = seq + 1000 WHERE seq = {a}"),
    }
}

#[tokio::test]
async fn random_tamperings_give_the_same_report_on_every_thread_count() {
    let mut g = crate::common::Gen::new(19);
    let mut faults = 0;
    for case in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let mut options = audit_sqlite::SqliteOptions::new(db_path(&dir));
        if g.chance(50) {
            options = options.hasher(audit_core::ChainHasher::hmac_sha256(b"test key"));
        }
        let store = SqliteStore::open_with(options).unwrap();
        store
            .append(&crate::common::varied_events(case, 40))
            .await
            .unwrap();
        let head = store.head().await.unwrap();
        let conn = raw(&db_path(&dir));
        conn.execute_batch(
            "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;",
        )
        .unwrap();
        let anchor = store.get(1 + g.next() % 20).await.unwrap().unwrap();
        let mut done = Vec::new();
        for _ in 0..1 + g.next() % 2 {
            let a = 1 + g.next() % 39;
            let b = a + 1 + g.next() % (40 - a);
            let sql = tampering(g.next() % 13, a, b);
            conn.execute_batch(&sql).unwrap();
            done.push(sql);
        }
        let scope = match g.next() % 3 {
            0 => VerifyScope::All,
            1 => VerifyScope::Range {
                from: 1 + g.next() % 20,
                to: 20 + g.next() % 30,
            },
            _ => VerifyScope::After(ChainAnchor {
                seq: anchor.seq,
                hash: anchor.hash,
            }),
        };
        let checkpoint = head.filter(|_| g.chance(50));
        let report = verify_every_way(&store, scope, checkpoint.as_ref()).await;
        faults += usize::from(report.fault.is_some());
        eprintln!("case {case}: {done:?} {scope:?}: {:?}", report.fault);
    }
    assert!(faults > 25, "the tamperings are found: {faults} of 40");
}

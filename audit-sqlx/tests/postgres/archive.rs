//! PostgreSQL archival: the prefix goes to a backend-neutral archive file that verifies
//! alone, is removed through the retention path, and the live log records the file's hash.

use crate::common::{fresh_store, tamper};
use audit_core::archive::{ARCHIVED_ACTION, ArchiveError, verify_archive};
use audit_core::chain::FaultKind;
use audit_core::query::AuditQuery;
use audit_core::store::VerifyScope;
use audit_core::{AuditEvent, AuditStore, ChainHasher};
use audit_sqlx::{Error, PgStore};
use chrono::{DateTime, Duration, Utc};

fn old() -> DateTime<Utc> {
    Utc::now() - Duration::days(400)
}

fn cutoff() -> DateTime<Utc> {
    Utc::now() - Duration::days(365)
}

/// `old_n` events older than the cut-off, then `new_n` recent ones.
async fn filled(store: &PgStore, old_n: i64, new_n: i64) {
    let events: Vec<AuditEvent> = (0..old_n)
        .map(|i| {
            AuditEvent::builder("OLD")
                .occurred_at(old() + Duration::seconds(i))
                .entity("booking", format!("b-{i}"))
                .build()
        })
        .chain((0..new_n).map(|i| {
            AuditEvent::builder("NEW")
                .entity("n", i.to_string())
                .build()
        }))
        .collect();
    store.append(&events).await.unwrap();
}

#[tokio::test]
async fn archive_moves_the_old_prefix_to_a_file_that_verifies_alone() {
    let url = require_pg!();
    let store = fresh_store(&url, "archive").await;
    filled(&store, 6, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pg-archive.jsonl");
    let report = store.archive(cutoff(), &path).await.unwrap();
    assert_eq!((report.from_seq, report.to_seq, report.count), (1, 6, 6));

    let alone = verify_archive(&path, &ChainHasher::sha256()).unwrap();
    assert!(alone.report.is_valid(), "{:?}", alone.report);
    assert_eq!(alone.report.checked, 6);
    assert_eq!(alone.sha256, report.sha256);
    assert_eq!(alone.header.source.as_deref(), Some("postgres"));

    let live = store.verify(VerifyScope::All, None).await.unwrap();
    assert!(live.is_valid(), "{live:?}");
    assert_eq!(
        live.checked, 4,
        "3 recent events and the AUDIT_ARCHIVED event"
    );
}

#[tokio::test]
async fn archive_records_an_event_with_the_files_sha256() {
    let url = require_pg!();
    let store = fresh_store(&url, "archiveevent").await;
    filled(&store, 4, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let report = store
        .archive(cutoff(), dir.path().join("a.jsonl"))
        .await
        .unwrap();
    let page = store
        .query(&AuditQuery::new().action(ARCHIVED_ACTION))
        .await
        .unwrap();
    let event = &page.events[0];
    assert_eq!(Some(event.seq), report.event_seq);
    assert_eq!(event.seq, 6);
    assert_eq!(
        event.event.metadata["archive_sha256"],
        report.sha256.as_str()
    );
    assert_eq!(event.event.metadata["from_seq"], 1);
    assert_eq!(event.event.metadata["to_seq"], 4);
    assert_eq!(
        event.event.actor.as_ref().map(|a| a.id.as_str()),
        Some("audit-postgres")
    );
}

#[tokio::test]
async fn a_second_archive_starts_from_the_first_ones_anchor() {
    let url = require_pg!();
    let store = fresh_store(&url, "archivetwice").await;
    filled(&store, 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    store
        .archive(cutoff(), dir.path().join("1.jsonl"))
        .await
        .unwrap();
    filled(&store, 2, 1).await;
    let second = dir.path().join("2.jsonl");
    // Everything up to now: seq 4 (the first AUDIT_ARCHIVED event) to seq 7.
    let report = store
        .archive(Utc::now() + Duration::days(1), &second)
        .await
        .unwrap();
    assert_eq!((report.from_seq, report.to_seq), (4, 7));
    let alone = verify_archive(&second, &ChainHasher::sha256()).unwrap();
    assert!(alone.report.is_valid(), "{:?}", alone.report);
    assert_eq!(alone.header.anchor.seq, 3);
    let live = store.verify(VerifyScope::All, None).await.unwrap();
    assert!(live.is_valid(), "{live:?}");
    assert_eq!(
        live.checked, 1,
        "only the second AUDIT_ARCHIVED event is left"
    );
}

#[tokio::test]
async fn nothing_older_than_the_cutoff_writes_no_file() {
    let url = require_pg!();
    let store = fresh_store(&url, "archivenone").await;
    filled(&store, 0, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.jsonl");
    let report = store.archive(cutoff(), &path).await.unwrap();
    assert_eq!(report.count, 0);
    assert!(!path.exists());
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 3);
}

#[tokio::test]
async fn a_broken_chain_is_not_archived_and_nothing_is_deleted() {
    let url = require_pg!();
    let store = fresh_store(&url, "archivebroken").await;
    filled(&store, 6, 1).await;
    tamper(&url, &store, |events| {
        format!("UPDATE {events} SET entity_id = 'forged' WHERE seq = 3")
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    match store.archive(cutoff(), &path).await.unwrap_err() {
        Error::Archive(ArchiveError::ChainBroken(fault)) => {
            assert_eq!((fault.seq, fault.kind), (3, FaultKind::Modified));
        }
        other => panic!("expected ChainBroken, got {other:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 7);
}

#[tokio::test]
async fn an_existing_file_is_not_overwritten() {
    let url = require_pg!();
    let store = fresh_store(&url, "archiveexists").await;
    filled(&store, 2, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken.jsonl");
    std::fs::write(&path, "keep me").unwrap();
    let err = store.archive(cutoff(), &path).await.unwrap_err();
    assert!(
        matches!(err, Error::Archive(ArchiveError::Exists(_))),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 2);
}

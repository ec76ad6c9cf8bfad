//! The backend-neutral archive format: the writer verifies while it writes and never leaves a
//! partial file under the final name; the verifier reads current and legacy files.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use audit_core::archive::{
    ARCHIVE_FORMAT, ArchiveError, ArchiveWriter, LEGACY_SQLITE_FORMAT, verify_archive,
};
use audit_core::chain::{ChainAnchor, ChainHasher, FaultKind};
use audit_core::{AuditEvent, StoredEvent};

fn chain(hasher: &ChainHasher, from: ChainAnchor, n: u64) -> Vec<StoredEvent> {
    let mut prev = from.hash;
    (1..=n)
        .map(|i| {
            let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
                .entity("booking", format!("b-{i}"))
                .build();
            let hash = hasher.hash(&prev, &event);
            let record = StoredEvent {
                seq: from.seq + i,
                prev_hash: prev,
                hash,
                event,
            };
            prev = hash;
            record
        })
        .collect()
}

fn last(records: &[StoredEvent]) -> ChainAnchor {
    let r = records.last().unwrap();
    ChainAnchor {
        seq: r.seq,
        hash: r.hash,
    }
}

fn write(path: &Path, hasher: &ChainHasher, records: &[StoredEvent]) -> Result<(), ArchiveError> {
    let anchor = ChainAnchor {
        seq: records[0].seq - 1,
        hash: records[0].prev_hash,
    };
    let mut writer = ArchiveWriter::create(path, hasher, anchor, last(records), "test")?;
    for r in records {
        writer.push(r)?;
    }
    writer.finish().map(|_| ())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_written_archive_verifies_and_names_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::hmac_sha256(b"k");
    let records = chain(&hasher, ChainAnchor::GENESIS, 5);
    let path = dir.path().join("a.jsonl");
    write(&path, &hasher, &records).unwrap();
    let checked = verify_archive(&path, &hasher).unwrap();
    assert!(checked.report.is_valid(), "{:?}", checked.report);
    assert_eq!(checked.report.checked, 5);
    assert_eq!(checked.header.format, ARCHIVE_FORMAT);
    assert_eq!(checked.header.source.as_deref(), Some("test"));
    assert_eq!(checked.header.count(), 5);
    assert_eq!(entries(dir.path()), ["a.jsonl"]);
}

#[test]
fn an_archive_after_an_anchor_verifies_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    let all = chain(&hasher, ChainAnchor::GENESIS, 10);
    let path = dir.path().join("tail.jsonl");
    write(&path, &hasher, &all[4..]).unwrap();
    let checked = verify_archive(&path, &hasher).unwrap();
    assert!(checked.report.is_valid(), "{:?}", checked.report);
    assert_eq!(checked.header.anchor.seq, 4);
}

#[test]
fn a_broken_chain_is_refused_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    let mut records = chain(&hasher, ChainAnchor::GENESIS, 6);
    records[2].event.entity_id = Some("forged".into());
    let path = dir.path().join("a.jsonl");
    match write(&path, &hasher, &records) {
        Err(ArchiveError::ChainBroken(fault)) => {
            assert_eq!((fault.seq, fault.kind), (3, FaultKind::Modified));
        }
        other => panic!("expected ChainBroken, got {other:?}"),
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn an_archive_that_stops_before_its_last_position_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    let records = chain(&hasher, ChainAnchor::GENESIS, 6);
    let path = dir.path().join("a.jsonl");
    let mut writer =
        ArchiveWriter::create(&path, &hasher, ChainAnchor::GENESIS, last(&records), "test")
            .unwrap();
    for r in &records[..4] {
        writer.push(r).unwrap();
    }
    let err = writer.finish().unwrap_err();
    assert!(
        matches!(&err, ArchiveError::ChainBroken(f) if f.kind == FaultKind::Truncated),
        "{err:?}"
    );
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_dropped_writer_removes_its_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    let records = chain(&hasher, ChainAnchor::GENESIS, 3);
    let path = dir.path().join("a.jsonl");
    let mut writer =
        ArchiveWriter::create(&path, &hasher, ChainAnchor::GENESIS, last(&records), "test")
            .unwrap();
    writer.push(&records[0]).unwrap();
    assert_eq!(entries(dir.path()), ["a.jsonl.partial"]);
    drop(writer);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    let records = chain(&hasher, ChainAnchor::GENESIS, 2);
    let path = dir.path().join("a.jsonl");
    std::fs::write(&path, "keep me").unwrap();
    let err = write(&path, &hasher, &records).unwrap_err();
    assert!(matches!(err, ArchiveError::Exists(_)), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn a_legacy_sqlite_archive_still_verifies() {
    // The layout audit-sqlite wrote before the shared format: no source, no created_at.
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    let records = chain(&hasher, ChainAnchor::GENESIS, 3);
    let header = serde_json::json!({
        "format": LEGACY_SQLITE_FORMAT,
        "version": 1,
        "algorithm": "sha256",
        "anchor": ChainAnchor::GENESIS,
        "last": last(&records),
    });
    let mut text = format!("{header}\n");
    for r in &records {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    let path = dir.path().join("legacy.jsonl");
    std::fs::write(&path, text).unwrap();
    let checked = verify_archive(&path, &hasher).unwrap();
    assert!(checked.report.is_valid(), "{:?}", checked.report);
    assert_eq!(checked.header.format, LEGACY_SQLITE_FORMAT);
    assert_eq!(checked.header.source, None);
}

#[test]
fn an_edited_line_is_reported_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    let records = chain(&hasher, ChainAnchor::GENESIS, 5);
    let path = dir.path().join("a.jsonl");
    write(&path, &hasher, &records).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"b-3\"", "\"b-33\"", 1)).unwrap();
    let fault = verify_archive(&path, &hasher)
        .unwrap()
        .report
        .fault
        .unwrap();
    assert_eq!((fault.seq, fault.kind), (3, FaultKind::Modified));
}

#[test]
fn files_that_are_not_archives_are_invalid_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::sha256();
    for (name, body) in [
        ("empty", ""),
        ("text", "hello\n"),
        ("other", "{\"format\":\"zip\",\"version\":1}\n"),
        (
            "future",
            "{\"format\":\"audit-archive\",\"version\":9,\"algorithm\":\"sha256\",\
             \"anchor\":{\"seq\":0,\"hash\":\"00\"},\"last\":{\"seq\":0,\"hash\":\"00\"}}\n",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let err = verify_archive(&path, &hasher).unwrap_err();
        assert!(matches!(err, ArchiveError::Invalid(_)), "{name}: {err:?}");
    }
}

#[test]
fn the_wrong_algorithm_is_a_hasher_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = ChainHasher::hmac_sha256(b"k");
    let records = chain(&hasher, ChainAnchor::GENESIS, 2);
    let path = dir.path().join("a.jsonl");
    write(&path, &hasher, &records).unwrap();
    let err = verify_archive(&path, &ChainHasher::sha256()).unwrap_err();
    assert!(
        matches!(err, ArchiveError::HasherMismatch { .. }),
        "{err:?}"
    );
}

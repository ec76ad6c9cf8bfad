//! The chain is backend-independent: the same events written to the in-memory reference
//! sink, a real SQLite file, a real PostgreSQL server and a real MariaDB server get the same
//! seqs and the same hashes, read back unchanged, export the same bytes, and each export
//! verifies on its own with nothing but `audit-core`; and each backend's Merkle tree has the
//! same root and gives the same proofs.

use std::io::BufRead;

use audit_core::chain::{ChainAnchor, ChainHasher, verify};
use audit_core::export::ExportFormat;
use audit_core::query::{AuditQuery, Order};
use audit_core::sinks::MemorySink;
use audit_core::tlog::TransparencyLog;
use audit_core::{Actor, AuditEvent, AuditSink, AuditStore, Category, Severity, StoredEvent};
use chrono::{TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use audit_integration_tests::{database_url, fresh_mysql, fresh_pg, mysql_url};

/// Deterministic, awkward events: unicode, nested metadata, IPv4 and IPv6, absent fields.
fn events() -> Vec<AuditEvent> {
    let base = Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("valid time");
    (0..120u32)
        .map(|i| {
            let mut b = AuditEvent::builder(
                ["FTMS_BOOKING_CREATED", "authn_login_fail", "authz_fail"][i as usize % 3],
            )
            .id(Uuid::from_u128(
                0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(i),
            ))
            .occurred_at(base + chrono::Duration::microseconds(i64::from(i) * 1_234_567))
            .category(
                [
                    Category::Business,
                    Category::Authentication,
                    Category::Authorization,
                ][i as usize % 3],
            )
            .metadata(
                json!({"n": i, "nested": {"ünï": "cødé", "list": [1, 2.5, null, true]}, "a": "z"}),
            );
            if i % 2 == 0 {
                b = b
                    .actor(Actor::user(format!("user-{}", i % 7)))
                    .ip(std::net::IpAddr::from([10, 0, 0, i as u8]));
            } else {
                b = b
                    .ip("2001:db8::1".parse().expect("valid IPv6"))
                    .description("réservation annulée — 🚀");
            }
            if i % 5 == 0 {
                b = b
                    .failure(format!("no seats left on flight {i}"))
                    .severity(Severity::Warning);
            }
            if i % 3 == 0 {
                b = b
                    .entity("booking", format!("b-{i}"))
                    .request_id(format!("req-{i}"))
                    .tenant("acme");
            }
            b.build()
        })
        .collect()
}

/// Writes the events in uneven batches through the sink interface.
async fn write_all(sink: &dyn AuditSink, events: &[AuditEvent]) {
    let mut start = 0;
    for size in [1, 7, 50, 62] {
        sink.write(&events[start..start + size])
            .await
            .expect("batch committed");
        start += size;
    }
    assert_eq!(start, events.len());
}

/// Every record, oldest first, through the store's own query path.
async fn read_all(store: &dyn AuditStore) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut query = AuditQuery::new().order(Order::OldestFirst).limit(33);
    loop {
        let page = store.query(&query).await.expect("query");
        out.extend(page.events);
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return out,
        }
    }
}

fn assert_same_chain(name: &str, reference: &[StoredEvent], other: &[StoredEvent]) {
    assert_eq!(reference.len(), other.len(), "{name}: record count");
    for (want, got) in reference.iter().zip(other) {
        assert_eq!(
            want, got,
            "{name}: record {} differs from the reference",
            want.seq
        );
    }
}

/// Parses a JSON Lines export and checks it with nothing but audit-core's verifier.
fn verify_export(name: &str, hasher: &ChainHasher, bytes: &[u8]) -> Vec<StoredEvent> {
    let records: Vec<StoredEvent> = bytes
        .lines()
        .map(|line| serde_json::from_str(&line.expect("read line")).expect("a stored event"))
        .collect();
    let report = verify(hasher.clone(), ChainAnchor::GENESIS, &records, None);
    assert!(report.is_valid(), "{name} export: {:?}", report.fault);
    records
}

/// Writes `events` to `backend`, then checks that it stores the reference chain, verifies
/// it itself, and that its export (`export`) equals `reference_export` byte for byte and
/// verifies on its own; and that its Merkle tree has the reference's root and proofs.
async fn assert_same_column<S: AuditSink + AuditStore + TransparencyLog>(
    name: &str,
    backend: &S,
    export: Vec<u8>,
    reference: &[StoredEvent],
    reference_export: &[u8],
    hasher: &ChainHasher,
) {
    assert_same_chain(name, reference, &read_all(backend).await);
    let report = backend
        .verify(Default::default(), None)
        .await
        .expect("verify");
    assert!(report.is_valid(), "{name}: {:?}", report.fault);
    assert_same_chain(name, reference, &verify_export(name, hasher, &export));
    assert!(
        export == reference_export,
        "{name}: the export differs from SQLite's"
    );
    assert_same_tree(name, backend).await;
}

/// The tree of `backend` holds the reference tree of the same events: the same root, the
/// same inclusion and consistency proofs.
async fn assert_same_tree(name: &str, backend: &impl TransparencyLog) {
    let reference = MemorySink::new();
    write_all(&reference, &events()).await;
    let head = reference.tree_head().await.expect("reference tree");
    assert_eq!(
        backend.tree_head().await.expect("tree head"),
        head,
        "{name}: another Merkle root"
    );
    for seq in 1..=head.size {
        assert_eq!(
            backend
                .prove_inclusion(seq, head.size)
                .await
                .expect("prove"),
            reference
                .prove_inclusion(seq, head.size)
                .await
                .expect("prove"),
            "{name}: another inclusion proof of seq {seq}"
        );
    }
    assert_eq!(
        backend
            .prove_consistency(2, head.size)
            .await
            .expect("prove"),
        reference
            .prove_consistency(2, head.size)
            .await
            .expect("prove"),
        "{name}: another consistency proof"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_sqlite_postgres_and_mysql_build_the_same_chain() {
    let events = events();
    let hasher = ChainHasher::hmac_sha256(b"cross-backend key");
    let all = || AuditQuery::new().order(Order::OldestFirst);

    let memory = MemorySink::with_hasher(hasher.clone());
    write_all(&memory, &events).await;
    let reference = read_all(&memory).await;
    assert_eq!(reference.len(), events.len());
    for (record, event) in reference.iter().zip(&events) {
        assert_eq!(
            &record.event, event,
            "the reference sink stores events unchanged"
        );
    }
    assert!(verify(hasher.clone(), ChainAnchor::GENESIS, &reference, None).is_valid());

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = audit_sqlite::SqliteStore::open_with(
        audit_sqlite::SqliteOptions::new(dir.path().join("audit.db")).hasher(hasher.clone()),
    )
    .expect("open SQLite file");
    write_all(&sqlite, &events).await;
    let (_, sqlite_export) = sqlite
        .export(all(), ExportFormat::JsonLines, Vec::new())
        .await
        .expect("export");
    assert_same_column(
        "sqlite",
        &sqlite,
        sqlite_export.clone(),
        &reference,
        &sqlite_export,
        &hasher,
    )
    .await;

    if let Some(url) = database_url() {
        let pg = fresh_pg(&url, "b", hasher.clone()).await;
        write_all(&pg, &events).await;
        let (export, _) = pg
            .export(&all(), ExportFormat::JsonLines, Vec::new())
            .await
            .expect("export");
        assert_same_column("postgres", &pg, export, &reference, &sqlite_export, &hasher).await;
        pg.close().await;
    }

    if let Some(url) = mysql_url() {
        let mysql = fresh_mysql(&url, "b", hasher.clone()).await;
        write_all(&mysql, &events).await;
        let (export, _) = mysql
            .export(&all(), ExportFormat::JsonLines, Vec::new())
            .await
            .expect("export");
        assert_same_column("mysql", &mysql, export, &reference, &sqlite_export, &hasher).await;
        mysql.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_export_verifies_on_its_own_and_shows_an_edit() {
    let events = events();
    let hasher = ChainHasher::sha256();
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite =
        audit_sqlite::SqliteStore::open(dir.path().join("audit.db")).expect("open SQLite file");
    write_all(&sqlite, &events).await;

    let export_path = dir.path().join("export.jsonl");
    let file = std::fs::File::create(&export_path).expect("create export file");
    sqlite
        .export(
            AuditQuery::new().order(Order::OldestFirst),
            ExportFormat::JsonLines,
            file,
        )
        .await
        .expect("export");

    let read = |path: &std::path::Path| -> Vec<StoredEvent> {
        let file = std::io::BufReader::new(std::fs::File::open(path).expect("open export"));
        file.lines()
            .map(|line| serde_json::from_str(&line.expect("read line")).expect("a stored event"))
            .collect()
    };
    let exported = read(&export_path);
    assert_eq!(exported.len(), events.len());
    let report = verify(hasher.clone(), ChainAnchor::GENESIS, &exported, None);
    assert!(report.is_valid(), "{:?}", report.fault);
    assert_eq!(report.checked, events.len() as u64);

    // An auditor who receives the file can tell that someone edited line 42 after export.
    let mut edited = exported.clone();
    edited[41].event.description = Some("nothing happened here".into());
    let report = verify(hasher, ChainAnchor::GENESIS, &edited, None);
    let fault = report.fault.expect("the edit is detected");
    assert_eq!(fault.seq, 42);
    assert_eq!(fault.kind, audit_core::chain::FaultKind::Modified);
}

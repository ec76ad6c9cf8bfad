//! A tenant verifies its own events against the operator's signed checkpoint, by inclusion
//! proofs, and gets a bundle of them that verifies offline, without seeing another
//! tenant's events: on a real SQLite file, PostgreSQL and MariaDB, with tampering done
//! behind each store's back (append-only triggers off, as the tables' owner can).
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use audit_core::query::AuditQuery;
use audit_core::store::{StoreError, TenantRefusal, VerifyScope};
use audit_core::tenant::{TenantScope, TenantScoped};
use audit_core::tlog::bundle::{verify_bundle, write_tenant_bundle};
use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, Keyring, SignedCheckpoint, TransparencyLog,
    TransparentStore, TreeFaultKind, verify_tenant,
};
use audit_core::{AuditEvent, AuditStore, StoredEvent};
use audit_integration_tests::{database_url, mysql_url, tamper_mysql, tamper_pg, unique_schema};

const ORIGIN: &str = "audit.example/tenant-verify";

fn policy() -> CheckpointPolicy {
    CheckpointPolicy::new(CheckpointSigner::from_seed(ORIGIN, &[42; 32]).unwrap()).without_timer()
}

fn operator_key() -> Keyring {
    Keyring::new(
        CheckpointSigner::from_seed(ORIGIN, &[42; 32])
            .unwrap()
            .verifying_key(),
    )
    .unwrap()
}

/// One of the three stores, signing checkpoints, with a way around its triggers.
enum Backend {
    Sqlite(audit_sqlite::SqliteStore, tempfile::TempDir),
    Postgres(audit_sqlx::PgStore),
    MariaDb(audit_sqlx::MySqlStore, String),
}

impl Backend {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options =
            audit_sqlite::SqliteOptions::new(dir.path().join("audit.db")).checkpoints(policy());
        Self::Sqlite(audit_sqlite::SqliteStore::open_with(options).unwrap(), dir)
    }

    async fn postgres(tag: &str) -> Option<Self> {
        let url = database_url()?;
        let options = audit_sqlx::PgOptions::new(url)
            .schema(&unique_schema(tag))
            .unwrap()
            .checkpoints(policy());
        Some(Self::Postgres(
            audit_sqlx::PgStore::connect_with(options).await.unwrap(),
        ))
    }

    async fn mariadb(tag: &str) -> Option<Self> {
        let url = mysql_url()?;
        let options = audit_sqlx::MySqlOptions::new(&url)
            .database(&unique_schema(tag))
            .unwrap()
            .checkpoints(policy());
        let store = audit_sqlx::MySqlStore::connect_with(options).await.unwrap();
        Some(Self::MariaDb(store, url))
    }

    fn log(&self) -> Arc<dyn TransparentStore> {
        match self {
            Self::Sqlite(store, _) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
            Self::MariaDb(store, _) => Arc::new(store.clone()),
        }
    }

    async fn append(&self, events: &[AuditEvent]) {
        match self {
            Self::Sqlite(store, _) => drop(store.append(events).await.unwrap()),
            Self::Postgres(store) => drop(store.append(events).await.unwrap()),
            Self::MariaDb(store, _) => drop(store.append(events).await.unwrap()),
        }
    }

    /// Rewrites the description of the event at `seq` in place, behind the store's back.
    async fn modify(&self, seq: u64, description: &str) {
        let set = format!("SET description = '{description}' WHERE seq = {seq}");
        match self {
            Self::Sqlite(_, dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("audit.db")).unwrap();
                conn.execute_batch(&format!(
                    "DROP TRIGGER IF EXISTS audit_events_no_update; UPDATE audit_events {set};"
                ))
                .unwrap();
            }
            Self::Postgres(store) => tamper_pg(store, |t| format!("UPDATE {t} {set}")).await,
            Self::MariaDb(store, url) => {
                tamper_mysql(url, store, |t| format!("UPDATE {t} {set}")).await;
            }
        }
    }
}

/// 30 events (acme, globex and no tenant in turn, request ids shared), written in three
/// batches; and the checkpoint the operator signed of them, which the tenants hold.
async fn signed(backend: &Backend) -> SignedCheckpoint {
    let events: Vec<AuditEvent> = (0..30)
        .map(|i| {
            let b = AuditEvent::builder("INVOICE_SENT")
                .request_id(format!("r-{}", i % 4))
                .description(format!("invoice {i}"));
            match i % 3 {
                0 => b.tenant("acme"),
                1 => b.tenant("globex"),
                _ => b,
            }
            .build()
        })
        .collect();
    for chunk in events.chunks(10) {
        backend.append(chunk).await;
    }
    let held = backend.log().sign_checkpoint().await.unwrap().unwrap();
    assert_eq!(held.head().size, 30);
    held
}

fn acme(backend: &Backend) -> TenantScoped<Arc<dyn TransparentStore>> {
    backend.log().for_tenant("acme")
}

async fn records(backend: &Backend) -> Vec<StoredEvent> {
    backend
        .log()
        .query(&AuditQuery::new().limit(100))
        .await
        .unwrap()
        .events
}

async fn an_honest_tenant_range_verifies(backend: Backend) {
    let held = signed(&backend).await;
    let acme = acme(&backend);
    let whole = verify_tenant(&acme, VerifyScope::All, &held, &operator_key())
        .await
        .unwrap();
    assert!(whole.is_valid(), "{whole:?}");
    assert_eq!(whole.checked, 10);
    let range = VerifyScope::Range { from: 11, to: 25 };
    let part = verify_tenant(&acme, range, &held, &operator_key())
        .await
        .unwrap();
    assert!(part.is_valid(), "{part:?}");
    // acme's seqs 13, 16, 19, 22, 25.
    assert_eq!(part.checked, 5);
}

async fn another_tenants_seq_and_id_are_refused(backend: Backend) {
    let held = signed(&backend).await;
    let acme = acme(&backend);
    for record in records(&backend).await {
        let by_seq = acme.prove_inclusion(record.seq, 30).await;
        let by_id = acme.prove_inclusion_of(record.event.id, 30).await;
        if record.event.tenant.as_deref() == Some("acme") {
            let head = held.verify(&operator_key()).unwrap();
            let leaf = audit_core::tlog::leaf_hash(&record.event);
            by_seq.unwrap().verify(&leaf, &head).unwrap();
            by_id.unwrap().verify(&leaf, &head).unwrap();
        } else {
            assert!(
                matches!(
                    by_seq,
                    Err(StoreError::Tenant(TenantRefusal::NotTenantSeq { .. }))
                ),
                "seq {}: {by_seq:?}",
                record.seq
            );
            assert!(
                matches!(
                    by_id,
                    Err(StoreError::Tenant(TenantRefusal::NotTenantId { .. }))
                ),
                "seq {}: {by_id:?}",
                record.seq
            );
        }
    }
}

async fn a_tampered_tenant_event_is_named_at_its_seq(backend: Backend) {
    let held = signed(&backend).await;
    // acme's seq 16, and globex's seq 17, changed behind the store's back.
    backend.modify(16, "refunded").await;
    backend.modify(17, "refunded").await;
    let report = verify_tenant(&acme(&backend), VerifyScope::All, &held, &operator_key())
        .await
        .unwrap();
    let faults: Vec<(u64, TreeFaultKind)> = report.faults.iter().map(|f| (f.seq, f.kind)).collect();
    // acme is told of its own event, and of nothing of globex's.
    assert_eq!(faults, [(16, TreeFaultKind::Modified)]);
    assert_eq!(report.checked, 10);
}

async fn a_tenant_bundle_holds_no_other_tenants_event_and_verifies_offline(backend: Backend) {
    let held = signed(&backend).await;
    let mut file = Vec::new();
    let written = write_tenant_bundle(&acme(&backend), 1, 30, &held, &mut file)
        .await
        .unwrap();
    assert_eq!(written.records, 10);
    let text = String::from_utf8(file).unwrap();
    let all = records(&backend).await;
    let mut in_bundle = BTreeSet::new();
    for record in &all {
        if text.contains(&record.event.id.to_string()) {
            in_bundle.insert(record.seq);
            assert_eq!(
                record.event.tenant.as_deref(),
                Some("acme"),
                "seq {}",
                record.seq
            );
        }
    }
    assert_eq!(in_bundle.len(), 10);
    assert!(!text.contains("globex"));
    // Offline: the file and the operator's key, nothing else.
    drop(backend);
    let report = verify_bundle(text.as_bytes(), &operator_key()).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.records, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_event_the_store_cannot_prove_is_named_unproven() {
    let backend = Backend::sqlite();
    let held = signed(&backend).await;
    let Backend::Sqlite(_, dir) = &backend else {
        unreachable!()
    };
    // Row 16 holds the hash of leaves 1..=16, which every proof of seqs 17..=30 needs. It
    // sits in the tree run of the second append, 11..=20: 640 bytes (the rows of 1..=q hold
    // 2q - popcount(q) hashes: 38 - 18 = 20), row 16's five hashes at bytes 256..416. The
    // run is split around it.
    let conn = rusqlite::Connection::open(dir.path().join("audit.db")).unwrap();
    let run: (i64, i64) = conn
        .query_row(
            "SELECT last_seq, length(hashes) FROM audit_tree_runs WHERE first_seq = 11",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(run, (20, 640));
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_tree_runs_no_update;
         INSERT INTO audit_tree_runs (first_seq, last_seq, hashes)
             SELECT 17, 20, substr(hashes, 417) FROM audit_tree_runs WHERE first_seq = 11;
         UPDATE audit_tree_runs SET last_seq = 15, hashes = substr(hashes, 1, 256)
             WHERE first_seq = 11;",
    )
    .unwrap();
    let report = verify_tenant(&acme(&backend), VerifyScope::All, &held, &operator_key())
        .await
        .unwrap();
    let unproven: Vec<u64> = report
        .faults
        .iter()
        .filter(|f| f.kind == TreeFaultKind::Unproven)
        .map(|f| f.seq)
        .collect();
    for seq in [19, 22, 25, 28] {
        assert!(unproven.contains(&seq), "seq {seq}: {report:?}");
    }
    assert_eq!(unproven.len(), report.faults.len(), "{report:?}");
    assert_eq!(report.checked, 10);
}

/// One test per backend for each check.
macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$check(Backend::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(backend) = Backend::postgres("tenant_v").await else { return };
                super::$check(backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                let Some(backend) = Backend::mariadb("tenant_v").await else { return };
                super::$check(backend).await;
            }
        }
    )*};
}

on_every_backend!(
    an_honest_tenant_range_verifies,
    another_tenants_seq_and_id_are_refused,
    a_tampered_tenant_event_is_named_at_its_seq,
    a_tenant_bundle_holds_no_other_tenants_event_and_verifies_offline,
);

//! One tenant's events, checked and handed over by the real `audit` binary: `bundle
//! --tenant` writes only that tenant's events with their proofs, `verify-bundle` checks the
//! file offline, `verify --tenant` checks the tenant's events in the store. On a real
//! SQLite file, PostgreSQL and MariaDB.

use std::path::PathBuf;

use audit_core::StoredEvent;
use audit_core::query::AuditQuery;
use audit_core::tlog::{CheckpointPolicy, CheckpointSigner, TransparencyLog};
use audit_integration_tests::{database_url, mysql_url, tamper_mysql, tamper_pg, unique_schema};
use audit_sqlite::{SqliteOptions, SqliteStore};
use audit_sqlx::{MySqlOptions, MySqlStore, PgOptions, PgStore};

use crate::common::*;

const ORIGIN: &str = "audit.example/cli-tenants";

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(ORIGIN, &[5; 32]).unwrap()
}

fn policy() -> CheckpointPolicy {
    CheckpointPolicy::new(signer()).without_timer()
}

/// A signed log of 30 events of [`event`] (acme and globex in turn), as the binary sees it.
struct Case {
    dir: tempfile::TempDir,
    /// `--db` (and `--schema`) for the binary.
    db: Vec<String>,
    /// The operator's verifying key, as `audit keygen` prints it.
    public: PathBuf,
    /// The signed checkpoint of the 30 events, as a tenant holds it.
    checkpoint: PathBuf,
    records: Vec<StoredEvent>,
}

impl Case {
    async fn new(log: &(impl TransparencyLog + audit_core::AuditStore), db: Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("operator.pub");
        std::fs::write(&public, format!("{}\n", signer().verifying_key())).unwrap();
        let checkpoint = dir.path().join("checkpoint");
        let signed = log.sign_checkpoint().await.unwrap().unwrap();
        assert_eq!(signed.head().size, 30);
        std::fs::write(&checkpoint, signed.as_str()).unwrap();
        let records = all(log, AuditQuery::new()).await;
        Self {
            dir,
            db,
            public,
            checkpoint,
            records,
        }
    }

    fn audit(&self, args: &[&str]) -> std::process::Output {
        audit().args(&self.db).args(args).output().unwrap()
    }

    fn seqs_of(&self, tenant: &str) -> Vec<u64> {
        self.records
            .iter()
            .filter(|r| r.event.tenant.as_deref() == Some(tenant))
            .map(|r| r.seq)
            .collect()
    }

    /// `audit bundle --tenant acme` of the whole checkpoint into `name`.
    fn bundle(&self, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        let done = self.audit(&[
            "bundle",
            "--tenant",
            "acme",
            "--from",
            "1",
            "--checkpoint",
            self.checkpoint.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(done.status.success(), "{}", stderr(&done));
        out
    }

    /// `audit verify-bundle` of `file`, with no store.
    fn verify_bundle(&self, file: &std::path::Path) -> std::process::Output {
        audit()
            .args(["verify-bundle", "--json", "--key"])
            .arg(&self.public)
            .arg(file)
            .output()
            .unwrap()
    }

    fn verify_tenant(&self, tenant: &str) -> std::process::Output {
        self.audit(&[
            "verify",
            "--json",
            "--tenant",
            tenant,
            "--checkpoint",
            self.checkpoint.to_str().unwrap(),
            "--key",
            self.public.to_str().unwrap(),
        ])
    }
}

/// A tenant bundle holds acme's events only and verifies offline; a record changed in the
/// file is named by its seq.
fn check_a_tenant_bundle_holds_only_its_events_and_verifies_offline(case: &Case) {
    let file = case.bundle("acme.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("globex"));
    let listed: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["seq"].as_u64())
        .collect();
    assert_eq!(listed, case.seqs_of("acme"));

    let ok = case.verify_bundle(&file);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let report: serde_json::Value = json(&ok);
    assert_eq!(report["valid"], true);
    assert_eq!(report["tenant"], "acme");
    assert_eq!(report["records"], 15);

    // The fifth acme record (seq 9) changed in the file.
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            5 => l.replace("event 8 by", "event 8 (changed) by"),
            _ => l.to_owned(),
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let bad = case.verify_bundle(&file);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let report: serde_json::Value = json(&bad);
    assert_eq!(report["fault"]["seq"], 9);
    assert_eq!(report["fault"]["kind"], "modified");
}

fn check_verify_tenant_passes(case: &Case) {
    let ok = case.verify_tenant("acme");
    assert!(ok.status.success(), "{}", stderr(&ok));
    let report: serde_json::Value = json(&ok);
    assert_eq!(report["valid"], true);
    assert_eq!(report["checked"], 15);
    assert_eq!(report["to_seq"], 30);
}

/// After acme's seq 7 and globex's seq 8 were changed: acme is told of seq 7 only.
fn check_verify_tenant_names_its_tampered_event(case: &Case) {
    let bad = case.verify_tenant("acme");
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let report: serde_json::Value = json(&bad);
    let faults: Vec<(u64, String)> = report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(faults, [(7, "modified".to_owned())]);
    assert!(stderr(&bad).contains("seq 7"), "{}", stderr(&bad));
}

/// The SQLite case, the file, and the directory holding it (kept while the test runs).
async fn sqlite_case() -> (Case, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let store = SqliteStore::open_with(SqliteOptions::new(&path).checkpoints(policy())).unwrap();
    let events: Vec<_> = (0..30).map(event).collect();
    store.append(&events).await.unwrap();
    let case = Case::new(&store, vec!["--db".into(), sqlite_url(&path)]).await;
    (case, path, dir)
}

#[tokio::test]
async fn a_tenant_bundle_of_sqlite_holds_only_its_events_and_verifies_offline() {
    let (case, _, _dir) = sqlite_case().await;
    check_a_tenant_bundle_holds_only_its_events_and_verifies_offline(&case);
}

#[tokio::test]
async fn verify_tenant_on_sqlite_names_only_its_own_tampered_event() {
    let (case, db, _dir) = sqlite_case().await;
    check_verify_tenant_passes(&case);
    sqlite_tamper(
        &db,
        "UPDATE audit_events SET description = 'x' WHERE seq IN (7, 8)",
    );
    check_verify_tenant_names_its_tampered_event(&case);
}

#[tokio::test]
async fn a_tenant_bundle_of_a_range_holding_only_another_tenants_event_is_empty() {
    let (case, _, _dir) = sqlite_case().await;
    // Seq 2 is globex's.
    let out = case.dir.path().join("one.jsonl");
    let done = case.audit(&[
        "bundle",
        "--tenant",
        "acme",
        "--from",
        "2",
        "--to",
        "2",
        "--checkpoint",
        case.checkpoint.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(done.status.success(), "{}", stderr(&done));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.lines().count(),
        2,
        "a header and the closing line: {text}"
    );
    assert!(!text.contains("globex"));
    let report: serde_json::Value = json(&case.verify_bundle(&out));
    assert_eq!(report["valid"], true);
    assert_eq!(report["records"], 0);
}

#[tokio::test]
async fn bundle_and_verify_tenant_work_on_postgres() {
    let Some(url) = database_url() else { return };
    let schema = unique_schema("cli_tenant");
    let options = PgOptions::new(&url)
        .schema(&schema)
        .unwrap()
        .checkpoints(policy());
    let store = PgStore::connect_with(options).await.unwrap();
    let events: Vec<_> = (0..30).map(event).collect();
    store.append(&events).await.unwrap();
    let db = vec!["--db".into(), url, "--schema".into(), schema];
    let case = Case::new(&store, db).await;
    check_a_tenant_bundle_holds_only_its_events_and_verifies_offline(&case);
    check_verify_tenant_passes(&case);
    tamper_pg(&store, |t| {
        format!("UPDATE {t} SET description = 'x' WHERE seq IN (7, 8)")
    })
    .await;
    check_verify_tenant_names_its_tampered_event(&case);
    store.close().await;
}

#[tokio::test]
async fn bundle_and_verify_tenant_work_on_mariadb() {
    let Some(url) = mysql_url() else { return };
    let database = unique_schema("cli_tenant");
    let options = MySqlOptions::new(&url)
        .database(&database)
        .unwrap()
        .checkpoints(policy());
    let store = MySqlStore::connect_with(options).await.unwrap();
    let events: Vec<_> = (0..30).map(event).collect();
    store.append(&events).await.unwrap();
    // The binary finds the tables in the URL's database.
    let (server, _) = url.rsplit_once('/').unwrap();
    let case = Case::new(&store, vec!["--db".into(), format!("{server}/{database}")]).await;
    check_a_tenant_bundle_holds_only_its_events_and_verifies_offline(&case);
    check_verify_tenant_passes(&case);
    tamper_mysql(&url, &store, |t| {
        format!("UPDATE {t} SET description = 'x' WHERE seq IN (7, 8)")
    })
    .await;
    check_verify_tenant_names_its_tampered_event(&case);
    store.close().await;
}

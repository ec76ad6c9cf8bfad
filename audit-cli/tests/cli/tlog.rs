//! The transparency-log commands of the real `audit` binary against a real SQLite file:
//! keygen, verify against a signed checkpoint, prove, bundle and verify-bundle.

use std::path::{Path, PathBuf};

use audit_core::StoredEvent;
use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, ConsistencyProof, InclusionProof, Keyring,
    SignedCheckpoint, leaf_hash,
};
use audit_sqlite::{SqliteOptions, SqliteStore};

use crate::common::*;

struct Signed {
    dir: tempfile::TempDir,
    store: SqliteStore,
    url: String,
    key: PathBuf,
    public: PathBuf,
}

impl Signed {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self) -> PathBuf {
        self.path("audit.db")
    }

    /// Saves the store's newest checkpoint, as a witness would keep it.
    async fn save_latest(&self, name: &str) -> PathBuf {
        use audit_core::tlog::TransparencyLog;
        let checkpoint = self.store.latest_checkpoint().await.unwrap().unwrap();
        let path = self.path(name);
        std::fs::write(&path, checkpoint.as_str()).unwrap();
        path
    }
}

/// A key made by `audit keygen`, and a store signing with it every 10 events: 30 events.
async fn signed_store() -> Signed {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signer.key");
    let out = audit()
        .args(["keygen", "--origin", "audit.example/cli-test", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let public = dir.path().join("verifier.pub");
    std::fs::write(&public, stdout(&out)).unwrap();
    let signer = CheckpointSigner::from_file(&key).unwrap();
    let db = dir.path().join("audit.db");
    let store = SqliteStore::open_with(
        SqliteOptions::new(&db).checkpoints(
            CheckpointPolicy::new(signer)
                .every_events(10)
                .without_timer(),
        ),
    )
    .unwrap();
    for i in 0..3u64 {
        let batch: Vec<_> = (i * 10..i * 10 + 10).map(event).collect();
        store.append(&batch).await.unwrap();
    }
    let url = sqlite_url(&db);
    Signed {
        dir,
        store,
        url,
        key,
        public,
    }
}

fn run(args: &[&str], files: &[&Path]) -> std::process::Output {
    let mut cmd = audit();
    cmd.args(args);
    for f in files {
        cmd.arg(f);
    }
    cmd.output().unwrap()
}

#[tokio::test]
async fn keygen_writes_a_private_key_only_its_owner_reads_and_never_replaces_it() {
    let s = signed_store().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&s.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let keys = Keyring::from_file(&s.public).unwrap();
    assert_eq!(keys.origin(), "audit.example/cli-test");
    let again = run(&["keygen", "--origin", "x", "--out"], &[&s.key]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
}

#[tokio::test]
async fn verify_against_a_signed_checkpoint_passes_then_names_the_tampered_seq() {
    let s = signed_store().await;
    let held = s.save_latest("witness-checkpoint").await;
    let ok = verify_signed(&s, &held);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let report: serde_json::Value = json(&ok);
    assert_eq!(report["valid"], true);
    assert_eq!(report["checkpoint"]["size"], 30);

    // The tail removed behind the store's back: the chain alone still verifies; the signed
    // checkpoint does not.
    sqlite_tamper(
        &s.db(),
        "DROP TRIGGER IF EXISTS audit_tree_no_delete;
         DELETE FROM audit_events WHERE seq > 25; DELETE FROM audit_tree WHERE seq > 25;",
    );
    let chain_only = run(&["--db", &s.url, "verify"], &[]);
    assert!(chain_only.status.success(), "{}", stderr(&chain_only));
    let bad = verify_signed(&s, &held);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let report: serde_json::Value = json(&bad);
    assert_eq!(report["tree_fault"]["seq"], 26);
    assert_eq!(report["tree_fault"]["kind"], "truncated");
    assert!(stderr(&bad).contains("seq 26"), "{}", stderr(&bad));
}

fn verify_signed(s: &Signed, checkpoint: &Path) -> std::process::Output {
    audit()
        .args(["--db", &s.url, "verify", "--json", "--checkpoint"])
        .arg(checkpoint)
        .arg("--key")
        .arg(&s.public)
        .output()
        .unwrap()
}

#[tokio::test]
async fn prove_prints_proofs_an_auditor_checks_with_the_verifying_key_alone() {
    let s = signed_store().await;
    let old = s.path("cp10");
    std::fs::write(&old, {
        use audit_core::tlog::TransparencyLog;
        s.store.checkpoints(0, 1).await.unwrap()[0]
            .as_str()
            .to_owned()
    })
    .unwrap();
    let keys = Keyring::from_file(&s.public).unwrap();
    let out = audit()
        .args(["--db", &s.url, "prove", "--seq", "7", "--key"])
        .arg(&s.public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = json(&out);
    let proof: InclusionProof = serde_json::from_value(v["inclusion"].clone()).unwrap();
    let record: StoredEvent = serde_json::from_value(v["record"].clone()).unwrap();
    let checkpoint: SignedCheckpoint = serde_json::from_value(v["checkpoint"].clone()).unwrap();
    let head = checkpoint.verify(&keys).unwrap();
    proof.verify(&leaf_hash(&record.event), &head).unwrap();
    assert_eq!(record.seq, 7);

    let by_id = audit()
        .args([
            "--db",
            &s.url,
            "prove",
            "--id",
            &record.event.id.to_string(),
        ])
        .output()
        .unwrap();
    assert!(by_id.status.success(), "{}", stderr(&by_id));
    assert_eq!(
        json::<serde_json::Value>(&by_id)["inclusion"],
        v["inclusion"]
    );

    let consistency = audit()
        .args(["--db", &s.url, "prove", "--key"])
        .arg(&s.public)
        .arg("--since")
        .arg(&old)
        .output()
        .unwrap();
    assert!(consistency.status.success(), "{}", stderr(&consistency));
    let c: serde_json::Value = json(&consistency);
    let proof: ConsistencyProof = serde_json::from_value(c["consistency"].clone()).unwrap();
    let old_head = SignedCheckpoint::parse(&std::fs::read_to_string(&old).unwrap())
        .unwrap()
        .verify(&keys)
        .unwrap();
    proof.verify(&old_head, &head).unwrap();
    assert_eq!((proof.old_size, proof.new_size), (10, 30));
}

#[tokio::test]
async fn a_bundle_verifies_offline_and_a_changed_record_is_named() {
    let s = signed_store().await;
    let bundle = s.path("bundle.jsonl");
    let out = audit()
        .args([
            "--db", &s.url, "bundle", "--from", "5", "--to", "20", "--out",
        ])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // No --db: the bundle and the verifying key are all it takes.
    let ok = audit()
        .args(["verify-bundle", "--json", "--key"])
        .arg(&s.public)
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let report: serde_json::Value = json(&ok);
    assert_eq!(
        (report["records"].as_u64(), report["valid"].as_bool()),
        (Some(16), Some(true))
    );

    let text = std::fs::read_to_string(&bundle).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut record: serde_json::Value = serde_json::from_str(&lines[8]).unwrap(); // seq 12
    assert_eq!(record["seq"], 12);
    record["actor"]["id"] = "mallory".into();
    lines[8] = record.to_string();
    std::fs::write(&bundle, lines.join("\n") + "\n").unwrap();
    let bad = audit()
        .args(["verify-bundle", "--json", "--key"])
        .arg(&s.public)
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let report: serde_json::Value = json(&bad);
    assert_eq!(report["fault"]["seq"], 12);
    assert_eq!(report["fault"]["kind"], "modified");

    // Another log's key does not vouch for it.
    let stranger = s.path("stranger.pub");
    std::fs::write(
        &stranger,
        CheckpointSigner::generate("audit.example/cli-test")
            .unwrap()
            .verifying_key(),
    )
    .unwrap();
    let refused = audit()
        .args(["verify-bundle", "--key"])
        .arg(&stranger)
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("bad_checkpoint"),
        "{}",
        stderr(&refused)
    );
}

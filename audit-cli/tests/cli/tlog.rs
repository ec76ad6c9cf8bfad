//! The transparency-log commands of the real `audit` binary against a real SQLite file, the
//! test PostgreSQL and the test MariaDB: keygen, verify against a signed checkpoint, prove,
//! bundle and verify-bundle. Each behaviour is one body, run once per store.

use std::path::{Path, PathBuf};

use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, ConsistencyProof, InclusionProof, Keyring,
    SignedCheckpoint, TransparentStore, leaf_hash,
};
use audit_core::{AuditEvent, AuditSink, StoredEvent};
use audit_sqlite::{SqliteOptions, SqliteStore};
use audit_sqlx::{MySqlOptions, MySqlStore, PgOptions, PgStore};

use crate::common::*;
use crate::{mysql, postgres};

/// Where a signed log lives, and how the binary is pointed at it.
enum Place {
    Sqlite,
    Postgres { url: String, schema: String },
    Mysql { db_url: String },
}

struct Signed {
    dir: tempfile::TempDir,
    log: Box<dyn TransparentStore>,
    place: Place,
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

    /// The binary with `--db` (and `--schema`) naming the log.
    fn cli(&self) -> assert_cmd::Command {
        match &self.place {
            Place::Sqlite => {
                let mut cmd = audit();
                cmd.args(["--db", &sqlite_url(&self.db())]);
                cmd
            }
            Place::Postgres { url, schema } => postgres::pg(url, schema),
            Place::Mysql { db_url } => mysql::mysql(db_url),
        }
    }

    /// Removes every event after `seq` and its tree rows behind the store's back, as the
    /// owner could (on the servers also moving the chain head back, so the chain verifies).
    async fn truncate_after(&self, seq: u64) {
        let sql =
            format!("DELETE FROM EVENTS WHERE seq > {seq}; DELETE FROM TREE WHERE seq > {seq};");
        let head = format!(
            "UPDATE HEAD SET seq = {seq}, hash = (SELECT hash FROM EVENTS WHERE seq = {seq})"
        );
        match &self.place {
            Place::Sqlite => sqlite_tamper(&self.db(), &sqlite_truncate_after(&self.db(), seq)),
            Place::Postgres { url, schema } => {
                postgres::tamper(url, schema, &format!("{sql} {head}")).await
            }
            Place::Mysql { db_url } => mysql::tamper(db_url, &format!("{sql} {head}")).await,
        }
    }

    /// Saves the store's newest checkpoint, as a witness would keep it.
    async fn save_latest(&self, name: &str) -> PathBuf {
        let checkpoint = self.log.latest_checkpoint().await.unwrap().unwrap();
        let path = self.path(name);
        std::fs::write(&path, checkpoint.as_str()).unwrap();
        path
    }
}

/// The SQL removing every event after `seq` and its stored tree hashes from a SQLite file,
/// whose tree keeps runs of rows: runs after `seq` go, and the run holding it keeps the
/// rows up to `seq` (the rows of `1..=q` hold `2q - popcount(q)` hashes of 32 bytes).
fn sqlite_truncate_after(db: &Path, seq: u64) -> String {
    let first: i64 = rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT first_seq FROM audit_tree_runs WHERE first_seq <= ?1 \
             ORDER BY first_seq DESC LIMIT 1",
            [seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    let through = |q: u64| 2 * q - u64::from(q.count_ones());
    let keep = 32 * (through(seq) - through(first as u64 - 1));
    format!(
        "DROP TRIGGER IF EXISTS audit_tree_runs_no_update; \
         DROP TRIGGER IF EXISTS audit_tree_runs_no_delete; \
         DELETE FROM audit_events WHERE seq > {seq}; \
         DELETE FROM audit_tree_runs WHERE first_seq > {seq}; \
         UPDATE audit_tree_runs SET last_seq = {seq}, hashes = substr(hashes, 1, {keep}) \
         WHERE first_seq = {first};"
    )
}

/// A key made by `audit keygen` in `dir`: the private key's path, the verifying key's path,
/// and a policy signing with it every 10 events.
fn keygen(dir: &Path) -> (PathBuf, PathBuf, CheckpointPolicy) {
    let key = dir.join("signer.key");
    let out = audit()
        .args(["keygen", "--origin", "audit.example/cli-test", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let public = dir.join("verifier.pub");
    std::fs::write(&public, stdout(&out)).unwrap();
    let signer = CheckpointSigner::from_file(&key).unwrap();
    let policy = CheckpointPolicy::new(signer)
        .every_events(10)
        .without_timer();
    (key, public, policy)
}

/// A log opened by `open` (given the SQLite file's path and the policy) that signs with a
/// key made by `audit keygen` every 10 events, holding 30 events of [`event`] appended ten at
/// a time: checkpoints at 10, 20 and 30.
async fn signed<S, F>(place: Place, open: impl FnOnce(PathBuf, CheckpointPolicy) -> F) -> Signed
where
    S: TransparentStore + AuditSink,
    F: std::future::Future<Output = S>,
{
    let dir = tempfile::tempdir().unwrap();
    let (key, public, policy) = keygen(dir.path());
    let store = open(dir.path().join("audit.db"), policy).await;
    let events: Vec<AuditEvent> = (0..30).map(event).collect();
    for chunk in events.chunks(10) {
        store.write(chunk).await.unwrap();
    }
    assert_eq!(store.tree_size().await.unwrap(), 30);
    Signed {
        dir,
        log: Box::new(store),
        place,
        key,
        public,
    }
}

/// A signed log in a SQLite file.
async fn signed_sqlite() -> Signed {
    signed(Place::Sqlite, |db, policy| async move {
        SqliteStore::open_with(SqliteOptions::new(db).checkpoints(policy)).unwrap()
    })
    .await
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
    let s = signed_sqlite().await;
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

/// `verify --checkpoint FILE --key PUB` passes on the intact log; once the tail is removed
/// behind the store's back the chain alone still verifies, the signed checkpoint does not,
/// and the first missing seq is named.
async fn verify_against_a_signed_checkpoint_passes_then_names_the_tampered_seq(s: Signed) {
    let held = s.save_latest("witness-checkpoint").await;
    let ok = verify_signed(&s, &held);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let report: serde_json::Value = json(&ok);
    assert_eq!(report["valid"], true);
    assert_eq!(report["checkpoint"]["size"], 30);

    s.truncate_after(25).await;
    let chain_only = s.cli().arg("verify").output().unwrap();
    assert!(chain_only.status.success(), "{}", stderr(&chain_only));
    let bad = verify_signed(&s, &held);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let report: serde_json::Value = json(&bad);
    assert_eq!(report["tree_fault"]["seq"], 26);
    assert_eq!(report["tree_fault"]["kind"], "truncated");
    assert!(stderr(&bad).contains("seq 26"), "{}", stderr(&bad));
}

fn verify_signed(s: &Signed, checkpoint: &Path) -> std::process::Output {
    s.cli()
        .args(["verify", "--json", "--checkpoint"])
        .arg(checkpoint)
        .arg("--key")
        .arg(&s.public)
        .output()
        .unwrap()
}

/// `prove` prints an inclusion proof (by seq and by id) and a consistency proof that check
/// with the verifying key alone.
async fn prove_prints_proofs_an_auditor_checks_with_the_verifying_key_alone(s: Signed) {
    let old = s.path("cp10");
    std::fs::write(&old, s.log.checkpoints(0, 1).await.unwrap()[0].as_str()).unwrap();
    let keys = Keyring::from_file(&s.public).unwrap();
    let out = s
        .cli()
        .args(["prove", "--seq", "7", "--key"])
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

    let by_id = s
        .cli()
        .args(["prove", "--id", &record.event.id.to_string()])
        .output()
        .unwrap();
    assert!(by_id.status.success(), "{}", stderr(&by_id));
    assert_eq!(
        json::<serde_json::Value>(&by_id)["inclusion"],
        v["inclusion"]
    );

    let consistency = s
        .cli()
        .args(["prove", "--key"])
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

/// `bundle` writes a range with its signed checkpoint and proofs; `verify-bundle` checks it
/// with no database, names a changed record, and refuses another log's key.
async fn a_bundle_verifies_offline_and_a_changed_record_is_named(s: Signed) {
    let bundle = s.path("bundle.jsonl");
    let out = s
        .cli()
        .args(["bundle", "--from", "5", "--to", "20", "--out"])
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

/// The three behaviours on one store: `$open()` gives its [`Signed`] log, or `None` when
/// its server is not given (outside CI; see the server modules).
macro_rules! tlog_commands_on {
    ($open:path) => {
        #[tokio::test]
        async fn verify_against_a_signed_checkpoint_passes_then_names_the_tampered_seq() {
            let Some(s) = $open().await else { return };
            super::verify_against_a_signed_checkpoint_passes_then_names_the_tampered_seq(s).await;
        }

        #[tokio::test]
        async fn prove_prints_proofs_an_auditor_checks_with_the_verifying_key_alone() {
            let Some(s) = $open().await else { return };
            super::prove_prints_proofs_an_auditor_checks_with_the_verifying_key_alone(s).await;
        }

        #[tokio::test]
        async fn a_bundle_verifies_offline_and_a_changed_record_is_named() {
            let Some(s) = $open().await else { return };
            super::a_bundle_verifies_offline_and_a_changed_record_is_named(s).await;
        }
    };
}

async fn open_sqlite() -> Option<Signed> {
    Some(signed_sqlite().await)
}

/// A signed log in a fresh schema of the test PostgreSQL.
async fn open_postgres() -> Option<Signed> {
    let url = postgres::database_url()?;
    let schema = postgres::schema("tlog");
    let options = PgOptions::new(&url).schema(&schema).unwrap();
    let place = Place::Postgres { url, schema };
    Some(
        signed(place, |_, policy| async move {
            PgStore::connect_with(options.checkpoints(policy))
                .await
                .unwrap()
        })
        .await,
    )
}

/// A signed log in a fresh database of the test MariaDB.
async fn open_mysql() -> Option<Signed> {
    let url = mysql::mysql_url()?;
    let database = mysql::database("tlog");
    let options = MySqlOptions::new(&url).database(&database).unwrap();
    let place = Place::Mysql {
        db_url: mysql::url_for(&url, &database),
    };
    Some(
        signed(place, |_, policy| async move {
            MySqlStore::connect_with(options.checkpoints(policy))
                .await
                .unwrap()
        })
        .await,
    )
}

mod on_sqlite {
    tlog_commands_on!(super::open_sqlite);
}

mod on_postgres {
    tlog_commands_on!(super::open_postgres);
}

mod on_mysql {
    tlog_commands_on!(super::open_mysql);
}

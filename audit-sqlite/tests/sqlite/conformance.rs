//! audit-core's conformance suite, run against real SQLite files.

use async_trait::async_trait;
use audit_conformance::{self as conformance, Backend, Tamper};
use audit_core::AuditEvent;
use audit_core::chain::ChainHasher;
use audit_core::sink::BoxError;
use audit_sqlite::SqliteStore;
use rusqlite::Connection;
use std::path::PathBuf;

/// Tampering through a raw connection with the append-only triggers dropped.
struct RawTamper {
    path: PathBuf,
}

impl RawTamper {
    fn run(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), BoxError> {
        let conn = Connection::open(&self.path)?;
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS audit_events_no_update;
             DROP TRIGGER IF EXISTS audit_events_no_delete;",
        )?;
        conn.execute(sql, params)?;
        Ok(())
    }
}

#[async_trait]
impl Tamper for RawTamper {
    async fn modify_description(&self, seq: u64, description: &str) -> Result<(), BoxError> {
        self.run(
            "UPDATE audit_events SET description = ?2 WHERE seq = ?1",
            rusqlite::params![seq as i64, description],
        )
    }

    async fn delete(&self, seq: u64) -> Result<(), BoxError> {
        self.run("DELETE FROM audit_events WHERE seq = ?1", [seq as i64])
    }

    async fn swap(&self, a: u64, b: u64) -> Result<(), BoxError> {
        self.run(
            "UPDATE audit_events SET seq = -1 WHERE seq = ?1",
            [a as i64],
        )?;
        self.run(
            "UPDATE audit_events SET seq = ?1 WHERE seq = ?2",
            [a as i64, b as i64],
        )?;
        self.run(
            "UPDATE audit_events SET seq = ?1 WHERE seq = -1",
            [b as i64],
        )
    }

    async fn truncate_after(&self, seq: u64) -> Result<(), BoxError> {
        self.run("DELETE FROM audit_events WHERE seq > ?1", [seq as i64])
    }

    async fn insert_forged(&self, after_seq: u64, event: &AuditEvent) -> Result<(), BoxError> {
        let after = after_seq as i64;
        self.run("UPDATE audit_events SET seq = -seq WHERE seq > ?1", [after])?;
        self.run("UPDATE audit_events SET seq = 1 - seq WHERE seq < 0", [])?;
        // Write the forged event through a scratch store, so its row uses the real
        // encoding, then copy the row in with the forged seq and hashes.
        let dir = tempfile::tempdir()?;
        let scratch_path = dir.path().join("scratch.db");
        let scratch = SqliteStore::open(&scratch_path)?;
        scratch.append(std::slice::from_ref(event)).await?;
        drop(scratch);
        let conn = Connection::open(&self.path)?;
        let prev: Vec<u8> = if after_seq == 0 {
            vec![0; 32]
        } else {
            conn.query_row(
                "SELECT hash FROM audit_events WHERE seq = ?1",
                [after],
                |r| r.get(0),
            )?
        };
        let prev_hash = audit_core::chain::ChainHash::from_slice(&prev)?;
        let hash = ChainHasher::sha256().hash(&prev_hash, event);
        conn.execute(
            "ATTACH DATABASE ?1 AS scratch",
            [scratch_path.to_string_lossy()],
        )?;
        conn.execute(
            "INSERT INTO audit_events
                 SELECT ?1, id, occurred_at, action, category, outcome, reason, actor_kind,
                        actor_id, entity_type, entity_id, description, ip, user_agent,
                        request_id, session_id, tenant, severity, metadata, ?2, ?3
                 FROM scratch.audit_events WHERE seq = 1",
            rusqlite::params![after + 1, prev, &hash.as_bytes()[..]],
        )?;
        Ok(())
    }

    fn supports_insert(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_conformance_suite() {
    conformance::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = SqliteStore::open(&path).unwrap();
        Backend::new(store.clone(), store)
            .with_tamper(RawTamper { path })
            .with_guard(dir)
    })
    .await;
}

//! Several OS processes append to one database at once; the result is one gap-free chain with
//! exactly every event, which the store's verifier accepts.
//!
//! The parent test re-executes this test binary once per writer, selecting `child_writer`
//! with `AUDIT_SQLX_MYSQL_CHILD_DB` set; without that variable `child_writer` does nothing.

use std::process::{Command, Stdio};

use audit_core::query::AuditQuery;
use audit_core::{AuditStore, ChainHasher};
use audit_sqlx::{MySqlOptions, MySqlStore};

use crate::common::*;

const WRITERS: usize = 4;
const BATCHES: usize = 25;
const BATCH: usize = 20;

#[tokio::test]
async fn child_writer() {
    let Ok(database) = std::env::var("AUDIT_SQLX_MYSQL_CHILD_DB") else {
        return; // Only meaningful when spawned by the parent test.
    };
    let url = std::env::var("MYSQL_URL").expect("the parent passes MYSQL_URL");
    let writer: usize = std::env::var("AUDIT_SQLX_MYSQL_CHILD_ID")
        .expect("the parent passes AUDIT_SQLX_MYSQL_CHILD_ID")
        .parse()
        .expect("numeric writer id");
    let store = MySqlStore::connect_with(MySqlOptions::new(url).database(&database).unwrap())
        .await
        .expect("child connects");
    for b in 0..BATCHES {
        let start = writer * 10_000 + b * BATCH;
        let batch: Vec<_> = events(start..start + BATCH)
            .into_iter()
            .map(|mut e| {
                e.session_id = Some(format!("writer-{writer}"));
                e
            })
            .collect();
        store.append(&batch).await.expect("child append");
    }
}

#[tokio::test]
async fn processes_writing_at_once_build_one_gap_free_valid_chain() {
    let url = require_mysql!();
    let store = fresh_store(&url, "multiproc").await;
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "multiprocess::child_writer",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("MYSQL_URL", &url)
                .env("AUDIT_SQLX_MYSQL_CHILD_DB", store.database().unwrap())
                .env("AUDIT_SQLX_MYSQL_CHILD_ID", id.to_string())
                // The child's libtest summary would read like this binary's own; keep it
                // and show it only when the child fails.
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn writer process")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait for writer process");
        assert!(
            out.status.success(),
            "a writer process failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let total = (WRITERS * BATCHES * BATCH) as u64;
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), total);
    let records = all_records(&store).await;
    assert_chain_links(&records, &ChainHasher::sha256());
    for w in 0..WRITERS {
        let n = records
            .iter()
            .filter(|r| r.event.session_id.as_deref() == Some(&format!("writer-{w}")))
            .count();
        assert_eq!(n, BATCHES * BATCH, "writer {w}");
    }
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, total);
}

//! Two OS processes append to one file at the same time and produce one valid chain.
//!
//! The child is this test binary run again with `CHILD_DB` set: the `child_writer` test
//! then writes its share and exits; in a normal run it returns at once.

mod common;

use std::process::Command;

use audit_core::{AuditQuery, AuditStore};
use audit_sqlite::SqliteStore;
use common::{db_path, events, runtime};

const CHILD_DB: &str = "AUDIT_SQLITE_CHILD_DB";
const BATCHES: usize = 40;
const BATCH: usize = 25;

fn write_share(path: &std::path::Path, who: &str) {
    let store = SqliteStore::open(path).expect("test setup");
    runtime().block_on(async {
        for _ in 0..BATCHES {
            store.append(&events(BATCH, who)).await.expect("test setup");
        }
    });
}

#[test]
fn child_writer() {
    if let Ok(path) = std::env::var(CHILD_DB) {
        write_share(path.as_ref(), "CHILD_EVENT");
    }
}

#[test]
fn two_processes_append_one_gap_free_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(SqliteStore::open(&path).unwrap());

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "child_writer", "--test-threads=1"])
        .env(CHILD_DB, &path)
        .spawn()
        .unwrap();
    write_share(&path, "PARENT_EVENT");
    assert!(child.wait().unwrap().success(), "the child writer failed");

    let store = SqliteStore::open(&path).unwrap();
    runtime().block_on(async {
        let total = (2 * BATCHES * BATCH) as u64;
        let report = store.verify(Default::default(), None).await.unwrap();
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.checked, total);
        assert_eq!(store.head().await.unwrap().unwrap().seq, total);
        for who in ["CHILD_EVENT", "PARENT_EVENT"] {
            let mine = store.count(&AuditQuery::new().action(who)).await.unwrap();
            assert_eq!(mine, (BATCHES * BATCH) as u64, "{who}");
        }
        // Not asserted (it depends on scheduling), but shown: how often the writer changed.
        let (mut switches, mut last) = (0, String::new());
        let oldest_first = AuditQuery::new().order(audit_core::query::Order::OldestFirst);
        store
            .for_each_blocking(&oldest_first, |r| {
                if r.event.action != last.as_str() {
                    switches += 1;
                    last = r.event.action.to_string();
                }
                Ok(())
            })
            .unwrap();
        eprintln!("the chain changed writer process {switches} times");
    });
}

//! `audit::init` in a real process: a program that simply returns from `main` keeps every
//! queued event, and a second `init` in the same process is refused. The child is this test
//! binary run again with `AUDIT_INIT_CHILD` naming the database.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use audit::{AuditEvent, AuditQuery, AuditStore, InitError};

const CHILD: &str = "AUDIT_INIT_CHILD";
const EVENTS: u64 = 20_000;

/// The child: starts auditing, records a flood faster than SQLite commits it, and returns
/// without flushing, the way a service without graceful shutdown ends.
#[test]
fn child_records_and_returns() {
    let Some(path) = std::env::var_os(CHILD) else {
        return; // Only meaningful when spawned by the test below.
    };
    let _audit = audit::init(
        // A linger makes the worker hold events back, so the queue has a tail at exit.
        audit::sqlite(&path).auditor(|b| b.max_linger(Duration::from_millis(200))),
    )
    .unwrap();
    for i in 0..EVENTS {
        audit::record(
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .entity("booking", i.to_string())
                .build(),
        );
    }
    let again = audit::init(audit::Setup::new(audit::sinks::MemorySink::new()));
    assert!(
        matches!(again, Err(InitError::AlreadyInstalled(_))),
        "{again:?}"
    );
    // `_audit` drops here: the guard drains the queue.
}

#[test]
fn a_process_that_returns_without_shutting_down_keeps_its_queued_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_records_and_returns", "--test-threads=1"])
        .env(CHILD, &path)
        .status()
        .unwrap();
    assert!(status.success(), "the child failed");

    let store = audit::SqliteStore::open(&path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(store.count(&AuditQuery::new())).unwrap(),
        EVENTS
    );
    let report = rt.block_on(store.verify(Default::default(), None)).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert!(
        !dir.path()
            .join("audit.db-spool")
            .read_dir()
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("spool-")),
        "nothing was left to replay"
    );
}

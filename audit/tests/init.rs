//! `audit::init` in a real process: a program that simply returns from `main` keeps every
//! queued event, also when it was stopped by SIGTERM through `audit::shutdown_signal`, and a
//! second `init` in the same process is refused. The children are this test binary run
//! again with `AUDIT_INIT_CHILD` naming the database.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use audit::{AuditEvent, AuditQuery, AuditStore, InitError};

const CHILD: &str = "AUDIT_INIT_CHILD";
const SIGNAL_CHILD: &str = "AUDIT_SIGNAL_CHILD";
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

/// The child of the signal test: a "service" that records a queued tail, then waits for
/// SIGTERM the documented way and returns; no `shutdown` call.
#[test]
fn child_waits_for_sigterm_then_returns() {
    let Some(path) = std::env::var_os(SIGNAL_CHILD) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let _audit =
            audit::init(audit::sqlite(&path).auditor(|b| b.max_linger(Duration::from_millis(500))))
                .unwrap();
        let stop = audit::shutdown_signal();
        for i in 0..EVENTS {
            audit::record_async(
                AuditEvent::builder("FTMS_BOOKING_CREATED")
                    .entity("booking", i.to_string())
                    .build(),
            )
            .await;
        }
        // Polling it once installs the handlers before the parent is told to signal.
        let mut stop = std::pin::pin!(stop);
        assert!(futures_poll_once(stop.as_mut()).await.is_none());
        println!("ready");
        stop.await;
    });
}

/// Polls `future` once.
async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
    let mut future = future;
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[cfg(unix)]
#[test]
fn a_service_stopped_by_sigterm_through_shutdown_signal_keeps_its_queued_events() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_waits_for_sigterm_then_returns",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(SIGNAL_CHILD, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    // Read to the end, so the child's last lines never meet a closed pipe.
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("ready") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready.recv().expect("the child never got ready");
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(
        status.success(),
        "the child did not return from main: {status:?}"
    );

    let store = audit::SqliteStore::open(&path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(store.count(&AuditQuery::new())).unwrap(),
        EVENTS
    );
}

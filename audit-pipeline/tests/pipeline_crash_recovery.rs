//! A spool left by a process that was killed is replayed, in order, by the next one.
//!
//! The "crashing" process is this test binary run again with an environment variable that
//! makes `child_records_then_waits_to_be_killed` record events and then wait for SIGKILL.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod pipeline_support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use audit_core::sinks::MemorySink;
use audit_core::{AuditEvent, AuditSink, BatchAck, SinkError};
use audit_pipeline::Auditor;
use audit_pipeline::{OverflowPolicy, PipelineError, RecordError, RetryPolicy};
use pipeline_support::{
    GatedSink, actions, expected_actions, numbered, spool_error_counter, spool_files,
};

const CHILD_DIR: &str = "AUDIT_TEST_CHILD_SPOOL_DIR";
const CHILD_MODE: &str = "AUDIT_TEST_CHILD_MODE";
const EVENTS: usize = 25;

/// A sink that is down for good (mode `outage`) or hangs in its first write (mode `hang`).
struct BrokenSink {
    hang: bool,
}

#[async_trait]
impl AuditSink for BrokenSink {
    async fn write(&self, _batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(SinkError::Unavailable {
            message: "database is down".into(),
            source: None,
        })
    }
}

/// Only does something in the child process.
#[test]
fn child_records_then_waits_to_be_killed() {
    let (Ok(dir), Ok(mode)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_MODE)) else {
        return;
    };
    let hang = mode == "hang";
    let mut builder = Auditor::builder(BrokenSink { hang })
        .retry(RetryPolicy::default().max_attempts(1))
        .spool_dir(&dir);
    if hang {
        builder = builder
            .queue_capacity(1)
            .max_batch_size(1)
            .overflow(OverflowPolicy::Spool);
    }
    let auditor = builder.build().unwrap();
    for event in numbered(EVENTS) {
        auditor.record(event);
    }
    if !hang {
        // Returns once every event is in a spool file (the sink being down).
        assert_eq!(
            auditor.flush_blocking(),
            Err(RecordError::Spooled {
                pending: EVENTS as u64
            })
        );
    }
    println!("READY");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

/// Runs the child in `mode` and SIGKILLs it once it has recorded everything.
fn run_and_kill_child(dir: &Path, mode: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_records_then_waits_to_be_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The test harness prints around our line, so look for the word, on a reader thread so
    // that a child that never gets ready cannot hang the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("READY"));
        let _ = tx.send(ready);
    });
    let ready = rx.recv_timeout(Duration::from_secs(120)).unwrap_or(false);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(ready, "the child exited before recording: {status}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
    }
}

#[test]
fn a_spool_from_a_killed_process_is_replayed_in_order_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    run_and_kill_child(dir.path(), "outage");
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("AFTER_RESTART").build());
    auditor.flush_blocking().unwrap();
    let mut expected = expected_actions(EVENTS);
    expected.push("AFTER_RESTART".into());
    assert_eq!(actions(&sink), expected);
    assert_eq!(auditor.metrics().replayed, EVENTS as u64);
    assert!(spool_files(dir.path()).is_empty());
}

#[test]
fn an_overflow_lane_from_a_killed_process_is_replayed_and_a_torn_line_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    run_and_kill_child(dir.path(), "hang");
    // Simulate the kill landing in the middle of a write: a torn last line.
    let lane = spool_files(dir.path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("lane-"))
        .expect("the child spilled into a lane");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&lane)
        .unwrap()
        .write_all(b"{\"observed\":false,\"event\":{\"id\":\"01")
        .unwrap();
    let corrupt = Arc::new(Mutex::new(0));
    let sink = MemorySink::new();
    let auditor = Auditor::builder(sink.clone())
        .spool_dir(dir.path())
        .on_error({
            let corrupt = Arc::clone(&corrupt);
            move |e| {
                if matches!(e, PipelineError::SpoolCorrupt { .. }) {
                    *corrupt.lock().unwrap() += 1;
                }
            }
        })
        .build()
        .unwrap();
    auditor.flush_blocking().unwrap();
    // At most two events were in memory when the process died (one inside the hung write,
    // one in the one-slot queue): those only `record_durable` can vouch for. Everything that
    // reached the lane comes back, in order.
    let replayed = actions(&sink);
    let lost = EVENTS - replayed.len();
    assert!(lost <= 2, "{replayed:?}");
    assert_eq!(replayed, expected_actions(EVENTS)[lost..]);
    assert_eq!(*corrupt.lock().unwrap(), 1);
    assert_eq!(auditor.metrics().spool_corrupt, 1);
}

/// Counts the events it sees.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl audit_core::EventObserver for Seen {
    fn observe(&self, event: &AuditEvent) -> Vec<AuditEvent> {
        self.0.lock().unwrap().push(event.action.to_string());
        Vec::new()
    }
}

#[test]
fn observers_see_a_recovered_lane_once_however_many_replays_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    // A lane left by a killed process: its events were never shown to the observers.
    let lane: String = numbered(2)
        .into_iter()
        .map(|event| {
            let event = serde_json::to_string(&event).unwrap();
            format!("{{\"observed\":false,\"event\":{event}}}\n")
        })
        .collect();
    std::fs::write(dir.path().join("lane-00000000000000000001.jsonl"), lane).unwrap();
    let sink = MemorySink::new();
    sink.fail_next_writes(3);
    let seen = Seen::default();
    let auditor = Auditor::builder(sink.clone())
        .retry(
            RetryPolicy::default()
                .max_attempts(1)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(2)),
        )
        .spool_dir(dir.path())
        .observer(seen.clone())
        .build()
        .unwrap();
    pipeline_support::wait_until("the replay", || sink.len() == 2);
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink), expected_actions(2));
    assert_eq!(sink.write_attempts(), 4);
    assert_eq!(*seen.0.lock().unwrap(), expected_actions(2));
}

#[test]
fn a_lane_given_up_after_read_errors_stays_on_disk_and_is_replayed_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GatedSink::closed();
    let (spool_errors, hook) = spool_error_counter();
    let auditor = pipeline_support::spooling(&sink, dir.path(), 2, 1)
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(2)),
        )
        .on_error(hook)
        .build()
        .unwrap();
    let events = numbered(15);
    let mut events = events.into_iter();
    auditor.record(events.next().unwrap());
    pipeline_support::wait_until("the first write", || sink.writes_started() == 1);
    // E1 and E2 fill the queue, E3..E9 spill to the lane, which then cannot be read.
    events.by_ref().take(9).for_each(|e| auditor.record(e));
    let (lane, away) = pipeline_support::hide_lane(dir.path());
    sink.open();
    pipeline_support::wait_until("the lane given up", || {
        spool_errors.load(std::sync::atomic::Ordering::SeqCst) >= 2
            && auditor.metrics().written == 3
    });
    // Recording goes on through the queue meanwhile.
    events.for_each(|e| auditor.record(e));
    assert_eq!(
        auditor.flush_blocking(),
        Err(RecordError::Spooled { pending: 7 })
    );
    let _ = auditor.shutdown_blocking();
    drop(auditor);
    let mut first = actions(&sink.inner);
    assert_eq!(first.drain(..3).collect::<Vec<_>>(), expected_actions(3));
    assert_eq!(first, (10..15).map(|i| format!("E{i}")).collect::<Vec<_>>());

    // The file is back (the error passed): the next start replays what was not delivered.
    std::fs::rename(&away, &lane).unwrap();
    let next = MemorySink::new();
    let auditor = Auditor::builder(next.clone())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    auditor.flush_blocking().unwrap();
    auditor.shutdown_blocking().unwrap();
    assert_eq!(
        actions(&next),
        (3..10).map(|i| format!("E{i}")).collect::<Vec<_>>()
    );
    assert!(spool_files(dir.path()).is_empty());
}

//! Sinks that break: one that hangs, one that blocks its thread, one that fails for a while.
//! Callers are never held up for long, nothing is lost, and order is kept.
//!
//! The latency bounds here are liveness checks (a caller held for the length of an outage
//! fails them by orders of magnitude), not speed targets: those are in the benches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_core::sinks::MemorySink;
use audit_core::{AuditEvent, AuditSink, BatchAck, SinkError};
use audit_pipeline::{Auditor, OverflowPolicy, RetryPolicy};

use crate::support::{
    GatedSink, actions, delivered_actions, expected_actions, numbered, wait_until,
};

/// Records `events` from a plain thread, one every `pace`, and returns the longest single
/// `record` call, or `None` if recording did not finish within `limit` (a caller held up).
fn record_paced(
    auditor: &Auditor,
    events: Vec<AuditEvent>,
    pace: Duration,
    limit: Duration,
) -> Option<Duration> {
    let auditor = auditor.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut longest = Duration::ZERO;
        for event in events {
            let started = Instant::now();
            auditor.record(event);
            longest = longest.max(started.elapsed());
            std::thread::sleep(pace);
        }
        let _ = tx.send(longest);
    });
    rx.recv_timeout(limit).ok()
}

fn quick_outage_policy() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(100))
        .max_elapsed(Duration::from_millis(100))
}

#[test]
fn a_hanging_sink_diverts_to_the_spool_and_callers_are_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GatedSink::closed();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(64)
        .max_batch_size(16)
        .write_timeout(Duration::from_millis(200))
        .retry(quick_outage_policy())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    // 2 000 events at ~2 000/s for about a second of outage, with a queue of 64: a worker
    // stuck in the sink would fill the queue at once and hold every caller after that.
    let longest = record_paced(
        &auditor,
        numbered(2_000),
        Duration::from_micros(500),
        Duration::from_secs(30),
    )
    .expect("callers were held up by the hanging sink");
    assert!(
        longest < Duration::from_secs(1),
        "a record() call waited {longest:?}"
    );
    assert!(auditor.metrics().spooled > 0, "{:?}", auditor.metrics());
    sink.open();
    wait_until("the spool is replayed", || {
        auditor.metrics().spool_pending == 0 && sink.inner.len() >= 2_000
    });
    auditor.shutdown_blocking().unwrap();
    assert_eq!(
        delivered_actions(&sink.inner),
        expected_actions(2_000),
        "lost or reordered"
    );
}

/// A sink whose first write blocks its thread (a synchronous driver stuck on a socket).
#[derive(Clone, Default)]
struct BlocksItsThread {
    inner: MemorySink,
    blocked_once: Arc<AtomicBool>,
}

#[async_trait]
impl AuditSink for BlocksItsThread {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        if !self.blocked_once.swap(true, Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(3));
            return Err(SinkError::Unavailable {
                message: "stuck".into(),
                source: None,
            });
        }
        self.inner.write(batch).await
    }
}

#[test]
fn a_sink_that_blocks_its_thread_does_not_hold_up_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let sink = BlocksItsThread::default();
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(32)
        .max_batch_size(8)
        .write_timeout(Duration::from_millis(100))
        .retry(quick_outage_policy())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    let longest = record_paced(
        &auditor,
        numbered(1_000),
        Duration::from_micros(500),
        Duration::from_secs(30),
    )
    .expect("callers were held up by a sink blocking its thread");
    assert!(
        longest < Duration::from_secs(1),
        "a record() waited {longest:?}"
    );
    wait_until("everything written once the sink is free", || {
        sink.inner.len() >= 1_000
    });
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink.inner), expected_actions(1_000));
}

/// Fails every write until `until`, then works.
#[derive(Clone)]
struct DownUntil {
    inner: MemorySink,
    until: Instant,
    failures: Arc<AtomicUsize>,
}

#[async_trait]
impl AuditSink for DownUntil {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        if Instant::now() < self.until {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(SinkError::Unavailable {
                message: "connection refused".into(),
                source: None,
            });
        }
        self.inner.write(batch).await
    }
}

#[test]
fn a_sink_down_for_a_second_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = DownUntil {
        inner: MemorySink::new(),
        until: Instant::now() + Duration::from_secs(1),
        failures: Arc::new(AtomicUsize::new(0)),
    };
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(64)
        .max_batch_size(16)
        .retry(quick_outage_policy())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    let longest = record_paced(
        &auditor,
        numbered(3_000),
        Duration::from_micros(500),
        Duration::from_secs(60),
    )
    .expect("callers were held up by the outage");
    assert!(
        longest < Duration::from_secs(1),
        "a record() waited {longest:?}"
    );
    auditor.shutdown_blocking().unwrap();
    assert!(
        sink.failures.load(Ordering::SeqCst) > 0,
        "the outage happened"
    );
    assert_eq!(actions(&sink.inner), expected_actions(3_000));
}

#[test]
fn without_a_spool_directory_an_outage_holds_a_bounded_spool_in_memory_then_the_policy_applies() {
    let sink = GatedSink::closed();
    let capacity = 64;
    let auditor = Auditor::builder(sink.clone())
        .queue_capacity(capacity)
        .max_batch_size(16)
        .write_timeout(Duration::from_millis(50))
        .retry(quick_outage_policy())
        .overflow(OverflowPolicy::DropNewest)
        .build()
        .unwrap();
    for event in numbered(5_000) {
        auditor.record(event);
        std::thread::sleep(Duration::from_micros(50));
    }
    let metrics = auditor.metrics();
    // In memory: at most the bound (the queue's capacity) plus the batch being spooled.
    assert!(
        metrics.spool_pending <= (capacity + 16) as u64,
        "the in-memory spool grew to {}",
        metrics.spool_pending
    );
    assert!(
        metrics.dropped > 0,
        "the overflow policy applied: {metrics:?}"
    );
    sink.open();
    auditor.shutdown_blocking().unwrap();
    let kept = distinct_ids(&sink.inner);
    assert_eq!(
        kept + auditor.metrics().dropped,
        5_000,
        "every event kept or counted"
    );
}

#[test]
fn when_the_spool_disk_is_gone_too_the_spool_stays_bounded_in_memory_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let errors = Arc::new(AtomicUsize::new(0));
    let sink = GatedSink::closed();
    let capacity = 64;
    let auditor = {
        let errors = errors.clone();
        Auditor::builder(sink.clone())
            .queue_capacity(capacity)
            .max_batch_size(16)
            .write_timeout(Duration::from_millis(50))
            .retry(quick_outage_policy())
            .overflow(OverflowPolicy::DropNewest)
            .spool_dir(&spool)
            .on_error(move |_| {
                errors.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    // The disk under the spool goes away (root ignores permissions; a removed directory
    // refuses every write).
    std::fs::remove_dir_all(&spool).unwrap();
    for event in numbered(5_000) {
        auditor.record(event);
        std::thread::sleep(Duration::from_micros(50));
    }
    let metrics = auditor.metrics();
    assert!(
        metrics.spool_pending <= (capacity + 16) as u64,
        "the spool grew to {} in memory",
        metrics.spool_pending
    );
    assert!(
        metrics.dropped > 0,
        "the overflow policy applied: {metrics:?}"
    );
    assert!(
        errors.load(Ordering::SeqCst) > 0,
        "the spool's write errors were reported"
    );
    sink.open();
    auditor.shutdown_blocking().unwrap();
    assert_eq!(
        distinct_ids(&sink.inner) + auditor.metrics().dropped,
        5_000,
        "every event kept or counted"
    );
}

/// Events kept, each counted once. Delivery is at least once: a write abandoned at its
/// deadline just as the gate opens still commits, and its replay stores the batch again
/// (the stores of this workspace acknowledge such a replay by event id; `MemorySink` keeps
/// both copies).
fn distinct_ids(sink: &audit_core::sinks::MemorySink) -> u64 {
    let ids: std::collections::HashSet<_> = sink.events().iter().map(|e| e.id).collect();
    ids.len() as u64
}

/// Threads of this process whose name starts with `prefix` (Linux: `/proc/self/task`).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .filter(|name| name.starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn auditors_that_are_dropped_stop_their_threads() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let sinks: Vec<MemorySink> = (0..25).map(|_| MemorySink::new()).collect();
    let auditors: Vec<Auditor> = sinks
        .iter()
        .map(|sink| {
            Auditor::builder(sink.clone())
                .thread_name("dropme")
                .build()
                .unwrap()
        })
        .collect();
    for auditor in &auditors {
        auditor.record(AuditEvent::builder("APP_EVENT").build());
    }
    wait_until("the threads are running", || threads_named("dropme") >= 50);
    drop(auditors);
    wait_until("every worker and sink thread has stopped", || {
        threads_named("dropme") == 0
    });
    // Each drained its queue on the way out.
    assert!(sinks.iter().all(|sink| sink.len() == 1));
}

#[test]
fn a_shut_down_auditor_has_no_thread_left_when_shutdown_returns() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let auditor = Auditor::builder(MemorySink::new())
        .thread_name("stopnow")
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("APP_EVENT").build());
    // A new thread names itself as it starts.
    wait_until("a worker and a sink thread", || {
        threads_named("stopnow") == 2
    });
    auditor.shutdown_blocking().unwrap();
    assert_eq!(threads_named("stopnow"), 0);
}

//! Helpers shared by the pipeline tests: sinks that can be held shut or made to reject, and
//! a bounded wait for conditions that a background worker makes true.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_core::sinks::MemorySink;
use audit_core::{AuditEvent, AuditSink, BatchAck, SinkError};
use audit_pipeline::Auditor;
use audit_pipeline::{AuditorBuilder, OverflowPolicy};
use tokio::sync::watch;

/// A `MemorySink` whose writes wait until the gate is opened.
#[derive(Clone)]
pub struct GatedSink {
    pub inner: MemorySink,
    open: Arc<watch::Sender<bool>>,
    started: Arc<AtomicUsize>,
}

impl GatedSink {
    pub fn closed() -> Self {
        Self {
            inner: MemorySink::new(),
            open: Arc::new(watch::channel(false).0),
            started: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// How many writes have started (and may be waiting at the gate).
    pub fn writes_started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl AuditSink for GatedSink {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        self.inner.write(batch).await
    }
}

/// A `MemorySink` that permanently rejects any batch holding an event whose action is
/// `POISON`.
#[derive(Clone, Default)]
pub struct PoisonSink {
    pub inner: MemorySink,
}

#[async_trait]
impl AuditSink for PoisonSink {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        if batch.iter().any(|e| e.action == "POISON") {
            return Err(SinkError::Rejected {
                message: "constraint violated".into(),
                source: None,
            });
        }
        self.inner.write(batch).await
    }
}

/// Waits until `condition` holds, failing the test after a generous bound (it only guards
/// against a hang; no test depends on how long this takes).
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `n` events numbered in their metadata, with actions `E0`, `E1`, …
pub fn numbered(n: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            AuditEvent::builder(format!("E{i}"))
                .metadata_entry("n", i)
                .build()
        })
        .collect()
}

/// The actions of what a memory sink holds, in storage order.
pub fn actions(sink: &MemorySink) -> Vec<String> {
    sink.events().iter().map(|e| e.action.to_string()).collect()
}

/// The actions the sink received, each event once (by id), in the order first delivered. For
/// a sink that is not idempotent by id (as `MemorySink` is not) behind a write deadline: a
/// write abandoned at its deadline may have committed anyway and is delivered again (at least
/// once), as the pipeline documents; the stores dedupe by id.
pub fn delivered_actions(sink: &MemorySink) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    sink.events()
        .iter()
        .filter(|e| seen.insert(e.id))
        .map(|e| e.action.to_string())
        .collect()
}

pub fn expected_actions(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("E{i}")).collect()
}

/// The spool files in `dir` (segments, lanes, dead letters), without the directory's lock.
pub fn spool_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().is_some_and(|name| name != "LOCK"))
        .collect();
    files.sort();
    files
}

/// The open overflow lane file in `dir`, if any.
pub fn lane_file(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    spool_files(dir).into_iter().find(|path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("lane-") && name.ends_with(".jsonl"))
    })
}

/// An error hook counting spool I/O errors, and the count.
pub fn spool_error_counter() -> (
    Arc<AtomicUsize>,
    impl Fn(&audit_pipeline::PipelineError) + Send + Sync + 'static,
) {
    let count = Arc::new(AtomicUsize::new(0));
    let hook = {
        let count = Arc::clone(&count);
        move |error: &audit_pipeline::PipelineError| {
            if matches!(error, audit_pipeline::PipelineError::Spool { .. }) {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    (count, hook)
}

/// An auditor over `sink` that spills to an overflow lane in `dir` once `capacity` events
/// wait, writing `batch` events at a time.
pub fn spooling(
    sink: &GatedSink,
    dir: &std::path::Path,
    capacity: usize,
    batch: usize,
) -> AuditorBuilder {
    Auditor::builder(sink.clone())
        .queue_capacity(capacity)
        .max_batch_size(batch)
        .overflow(OverflowPolicy::Spool)
        .spool_dir(dir)
}

/// Records `E0` and waits until the sink holds it in a write (so nothing drains), then
/// records `rest`.
pub fn record_behind_a_held_write(
    auditor: &Auditor,
    sink: &GatedSink,
    rest: impl IntoIterator<Item = AuditEvent>,
) {
    auditor.record(AuditEvent::builder("E0").build());
    wait_until("the first write", || sink.writes_started() == 1);
    rest.into_iter().for_each(|event| auditor.record(event));
}

/// Moves the overflow lane file in `dir` away (reads of it fail); returns where it was and
/// where it went.
pub fn hide_lane(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let lane = lane_file(dir).expect("an overflow lane");
    let away = lane.with_extension("away");
    std::fs::rename(&lane, &away).expect("lane moved away");
    (lane, away)
}

//! A failing sink: retry, spool, replay in order, dead letters for rejected events.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{PoisonSink, actions, expected_actions, numbered, spool_files, wait_until};
use audit_core::sinks::MemorySink;
use audit_core::store::VerifyScope;
use audit_core::{AuditEvent, AuditStore};
use audit_pipeline::Auditor;
use audit_pipeline::{PipelineError, RecordError, RetryPolicy};

/// A sink that refuses every write until told otherwise, behind an auditor that retries
/// quickly.
fn failing_sink_auditor() -> (MemorySink, Auditor) {
    let sink = MemorySink::new();
    sink.set_failing(true);
    let auditor = Auditor::builder(sink.clone())
        .retry(quick_retry())
        .build()
        .expect("auditor");
    (sink, auditor)
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(2)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

fn outage_then_recovery(spool_dir: Option<&std::path::Path>) {
    let sink = MemorySink::new();
    sink.set_failing(true);
    let mut builder = Auditor::builder(sink.clone())
        .max_batch_size(4)
        .retry(quick_retry());
    if let Some(dir) = spool_dir {
        builder = builder.spool_dir(dir);
    }
    let auditor = builder.build().unwrap();
    for event in numbered(20) {
        auditor.record(event);
    }
    // Everything recorded so far is spooled: flush says so rather than pretending.
    assert!(matches!(
        auditor.flush_blocking(),
        Err(RecordError::Spooled { pending: 20 })
    ));
    // More events while the sink is down queue up behind the spool.
    for event in numbered(30).into_iter().skip(20) {
        auditor.record(event);
    }
    sink.set_failing(false);
    wait_until("the spool to drain", || {
        let m = auditor.metrics();
        m.spool_pending == 0 && m.written == 30
    });
    auditor.flush_blocking().unwrap();
    assert_eq!(actions(&sink), expected_actions(30));
    let m = auditor.metrics();
    assert_eq!((m.written, m.dropped, m.failed), (30, 0, 0));
    // The first twenty certainly went through the spool; later ones may have come after
    // the replay finished and gone straight to the sink.
    assert!(m.spooled >= 20 && m.replayed == m.spooled, "{m:?}");
    assert!(m.retried >= 1);
    let report = futures::executor::block_on(sink.verify(VerifyScope::All, None)).unwrap();
    assert!(report.is_valid());
}

#[test]
fn a_sink_outage_loses_nothing_and_keeps_order_with_an_in_memory_spool() {
    outage_then_recovery(None);
}

#[test]
fn a_sink_outage_loses_nothing_and_keeps_order_with_a_spool_directory() {
    let dir = tempfile::tempdir().unwrap();
    outage_then_recovery(Some(dir.path()));
    assert!(spool_files(dir.path()).is_empty());
}

#[test]
fn transient_failures_are_retried_without_spooling() {
    let sink = MemorySink::new();
    sink.fail_next_writes(1);
    let auditor = Auditor::builder(sink.clone())
        .retry(quick_retry())
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("A").build());
    auditor.flush_blocking().unwrap();
    let m = auditor.metrics();
    assert_eq!((m.retried, m.spooled, m.written), (1, 0, 1));
    assert_eq!(sink.write_attempts(), 2);
}

#[tokio::test]
async fn record_durable_waits_for_the_replay_after_an_outage() {
    let (sink, auditor) = failing_sink_auditor();
    let durable = tokio::spawn({
        let auditor = auditor.clone();
        async move {
            auditor
                .record_durable(AuditEvent::builder("A").build())
                .await
        }
    });
    while auditor.metrics().spooled == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!durable.is_finished());
    sink.set_failing(false);
    let receipt = durable.await.unwrap().unwrap();
    assert_eq!(receipt.position.unwrap().seq, 1);
    assert_eq!(auditor.metrics().replayed, 1);
}

#[test]
fn a_rejected_event_goes_to_dead_letters_without_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let sink = PoisonSink::default();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let auditor = Auditor::builder(sink.clone())
        .max_batch_size(10)
        .max_linger(Duration::from_secs(3600))
        .spool_dir(dir.path())
        .on_error({
            let errors = Arc::clone(&errors);
            move |e| errors.lock().unwrap().push(e.to_string())
        })
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("A").build());
    auditor.record(AuditEvent::builder("POISON").build());
    auditor.record(AuditEvent::builder("B").build());
    auditor.flush_blocking().unwrap();
    assert_eq!(actions(&sink.inner), ["A", "B"]);
    assert_eq!(auditor.metrics().failed, 1);
    let dead = spool_files(dir.path());
    assert_eq!(dead.len(), 1);
    assert!(
        std::fs::read_to_string(&dead[0])
            .unwrap()
            .contains("POISON")
    );
    assert!(
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("rejected"))
    );
}

#[test]
fn record_durable_reports_a_rejection() {
    let sink = PoisonSink::default();
    let auditor = Auditor::builder(sink).build().unwrap();
    let result = auditor.record_durable_blocking(AuditEvent::builder("POISON").build());
    assert!(matches!(result, Err(RecordError::Rejected { .. })));
}

#[test]
fn a_failing_sink_is_reported_to_the_error_hook() {
    let sink = MemorySink::new();
    sink.set_failing(true);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let auditor = Auditor::builder(sink.clone())
        .retry(quick_retry())
        .on_error({
            let seen = Arc::clone(&seen);
            move |e| {
                if let PipelineError::SinkUnavailable { attempts, .. } = e {
                    seen.lock().unwrap().push(*attempts);
                }
            }
        })
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("A").build());
    let _ = auditor.flush_blocking();
    assert_eq!(*seen.lock().unwrap(), [2]);
    sink.set_failing(false);
    auditor.shutdown_blocking().unwrap();
    assert_eq!(sink.len(), 1);
}

#[test]
fn shutdown_with_the_sink_still_down_leaves_the_spool_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemorySink::new();
    sink.set_failing(true);
    let auditor = Auditor::builder(sink.clone())
        .retry(quick_retry())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    for event in numbered(3) {
        auditor.record(event);
    }
    assert!(matches!(
        auditor.shutdown_blocking(),
        Err(RecordError::Spooled { pending: 3 })
    ));
    drop(auditor);
    let recovered = MemorySink::new();
    let auditor = Auditor::builder(recovered.clone())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    auditor.flush_blocking().unwrap();
    assert_eq!(actions(&recovered), expected_actions(3));
    assert_eq!(auditor.metrics().replayed, 3);
}

#[test]
fn an_unbounded_replay_backoff_waits_instead_of_failing() {
    let sink = MemorySink::new();
    sink.fail_next_writes(1);
    let auditor = Auditor::builder(sink.clone())
        .retry(
            RetryPolicy::default()
                .max_attempts(1)
                .initial_backoff(Duration::MAX)
                .max_backoff(Duration::MAX),
        )
        .build()
        .unwrap();
    auditor.record(AuditEvent::builder("A").build());
    // Spooled, with the next replay scheduled (very) late.
    assert!(matches!(
        auditor.flush_blocking(),
        Err(RecordError::Spooled { pending: 1 })
    ));
    // Shutdown still makes its last replay attempt.
    auditor.shutdown_blocking().unwrap();
    assert_eq!(actions(&sink), ["A"]);
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_without_a_spool_directory_says_the_events_were_not_kept() {
    let (sink, auditor) = failing_sink_auditor();
    for event in numbered(2) {
        auditor.record(event);
    }
    let durable = tokio::spawn({
        let auditor = auditor.clone();
        async move {
            auditor
                .record_durable(AuditEvent::builder("DURABLE").build())
                .await
        }
    });
    while auditor.metrics().enqueued < 3 {
        tokio::task::yield_now().await;
    }
    // Not `Spooled`: nothing replays an in-memory spool on the next start.
    assert_eq!(
        auditor.shutdown().await,
        Err(RecordError::Unsaved { events: 3 })
    );
    assert_eq!(
        durable.await.unwrap(),
        Err(RecordError::Unsaved { events: 3 })
    );
    assert!(sink.is_empty());
}

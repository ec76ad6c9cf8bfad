//! What `#[audited]` costs the caller: an annotated function beside the bare one and beside
//! recording the same event by hand.
//!
//! - `unrouted`: no auditor installed yet, so recording ends at the dispatch (a counter): the
//!   cost of the generated code and the event it builds, without the pipeline;
//! - `sync` and `async`: a real `Auditor` (non-blocking `record`) writing to a sink that does
//!   nothing, so the caller's side of the whole path is measured.

use std::hint::black_box;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_core::{AuditEvent, AuditSink, BatchAck, SinkError, audited};
use audit_pipeline::Auditor;
use criterion::{Criterion, criterion_group, criterion_main};

/// Accepts every batch and keeps nothing.
struct NoopSink;

#[async_trait]
impl AuditSink for NoopSink {
    async fn write(&self, _batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        Ok(BatchAck::unchained())
    }
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

#[inline(never)]
fn bare(id: u64) -> Result<u64, Refused> {
    if id == u64::MAX {
        return Err(Refused);
    }
    Ok(id + 1)
}

#[inline(never)]
fn manual(id: u64) -> Result<u64, Refused> {
    let result = bare(id);
    let event = AuditEvent::builder("BENCH_BOOKING_CREATED")
        .entity("booking", id.to_string())
        .build();
    audit_core::record(match &result {
        Ok(_) => event,
        Err(err) => AuditEvent {
            outcome: audit_core::Outcome::Failure,
            reason: Some(err.to_string()),
            ..event
        },
    });
    result
}

#[inline(never)]
#[audited("BENCH_BOOKING_CREATED")]
fn audited_minimal(id: u64) -> Result<u64, Refused> {
    if id == u64::MAX {
        return Err(Refused);
    }
    Ok(id + 1)
}

#[inline(never)]
#[audited("BENCH_BOOKING_CREATED", entity_type = "booking", entity_id = id)]
fn audited_entity(id: u64) -> Result<u64, Refused> {
    if id == u64::MAX {
        return Err(Refused);
    }
    Ok(id + 1)
}

async fn bare_async(id: u64) -> Result<u64, Refused> {
    tokio::task::yield_now().await;
    bare(id)
}

#[audited("BENCH_BOOKING_CREATED", entity_type = "booking", entity_id = id)]
async fn audited_async(id: u64) -> Result<u64, Refused> {
    tokio::task::yield_now().await;
    bare(id)
}

/// The process default auditor, built and installed once (a default installs once).
fn global_auditor() -> &'static Auditor {
    static AUDITOR: std::sync::OnceLock<Auditor> = std::sync::OnceLock::new();
    AUDITOR.get_or_init(|| {
        let auditor = match Auditor::builder(NoopSink).queue_capacity(1 << 16).build() {
            Ok(auditor) => auditor,
            Err(err) => panic!("cannot build the bench auditor: {err}"),
        };
        if let Err(err) = auditor.set_global_default() {
            panic!("cannot install the bench auditor: {err}");
        }
        auditor
    })
}

fn unrouted(c: &mut Criterion) {
    let mut group = c.benchmark_group("macro_overhead/unrouted");
    group.bench_function("bare", |b| b.iter(|| bare(black_box(7))));
    group.bench_function("manual_record", |b| b.iter(|| manual(black_box(7))));
    group.bench_function("audited", |b| b.iter(|| audited_minimal(black_box(7))));
    group.bench_function("audited_entity", |b| {
        b.iter(|| audited_entity(black_box(7)))
    });
    group.finish();
}

/// Times `iters` calls, then waits (untimed) for the worker to drain, so the queue never
/// fills and the numbers are the caller's cost rather than the worker's throughput.
fn timed_then_flushed<R>(auditor: &Auditor, iters: u64, mut call: impl FnMut() -> R) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(call());
    }
    let elapsed = start.elapsed();
    let _ = auditor.flush_blocking();
    elapsed
}

fn sync(c: &mut Criterion) {
    let auditor = global_auditor();
    let mut group = c.benchmark_group("macro_overhead/sync");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| timed_then_flushed(auditor, iters, || bare(black_box(7))))
    });
    group.bench_function("manual_record", |b| {
        b.iter_custom(|iters| timed_then_flushed(auditor, iters, || manual(black_box(7))))
    });
    group.bench_function("audited", |b| {
        b.iter_custom(|iters| timed_then_flushed(auditor, iters, || audited_minimal(black_box(7))))
    });
    group.bench_function("audited_entity", |b| {
        b.iter_custom(|iters| timed_then_flushed(auditor, iters, || audited_entity(black_box(7))))
    });
    group.finish();
    let _ = auditor.flush_blocking();
}

fn asynchronous(c: &mut Criterion) {
    let auditor = global_auditor();
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(err) => panic!("cannot build the bench runtime: {err}"),
    };
    let mut group = c.benchmark_group("macro_overhead/async");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = black_box(bare_async(black_box(7)).await);
                }
                let elapsed = start.elapsed();
                let _ = auditor.flush().await;
                elapsed
            })
        })
    });
    group.bench_function("audited_entity", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = black_box(audited_async(black_box(7)).await);
                }
                let elapsed = start.elapsed();
                let _ = auditor.flush().await;
                elapsed
            })
        })
    });
    group.finish();
    let _ = auditor.flush_blocking();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = unrouted, sync, asynchronous
}
criterion_main!(benches);

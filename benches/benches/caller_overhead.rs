//! Issue 7, item 1: what auditing a call costs the caller, beside the bare call and beside
//! the logging a user would otherwise reach for.
//!
//! One criterion group, so every line is measured in the same run on the same machine:
//!
//! - `sync/bare`, `sync/audited`: a plain function, and the same body under
//!   `#[audited(...)]` recording through a real [`Auditor`] (non-blocking `record`);
//! - `async/bare`, `async/audited`: the same for an `async fn` (polled on a current-thread
//!   runtime, one `block_on` per sample);
//! - `sync/tracing_json`: the bare call plus `tracing::info!` with the same 8 fields into
//!   `tracing-subscriber`'s JSON formatter over `tracing-appender`'s non-blocking file writer;
//! - `sync/record_builder`: the bare call plus `audit_core::record` of an event built with
//!   the builder (what a user writes without the attribute);
//! - `sparse/*`: bare, audited and tracing again, one call at a time with an idle gap before
//!   each, so the background writer has gone back to sleep and every call pays its wake-up.
//!   That is the common case in a service (a few audited calls per request), which a tight
//!   loop hides because the worker never gets to sleep.
//!
//! The 8 fields: action, category, outcome, actor, entity type, entity id, client IP and
//! request id. For the audited lines the last two come from the [`AuditContext`] in scope,
//! as they would in a service (merged on the worker); tracing gets them as event fields
//! (cheaper for it than a span).
//!
//! Queue policy: [`OverflowPolicy::DropNewest`] with a capacity of 2^20, and the pipeline is
//! flushed after every sample outside the timed region, so each sample starts with an
//! empty queue. `dropped == 0` and `over_capacity == 0` (printed at the end) prove the
//! queue never filled: no measured call waited for room and none took the cheaper drop path.
//! The sink accepts every batch and keeps nothing, so only the caller's side is measured.
//! The tracing writer is not lossy (it would drop lines when full, which is cheaper) and its
//! buffer holds 2^20 lines; its dropped-line counter is printed too.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_core::{
    Actor, AuditContext, AuditEvent, AuditSink, BatchAck, Category, SinkError, audited,
};
use audit_pipeline::Auditor;
use audit_pipeline::OverflowPolicy;
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Large enough that a whole sample fits; the queue is flushed between samples anyway.
const QUEUE_CAPACITY: usize = 1 << 20;
/// The idle time before each `sparse/*` call: long enough for both background writers to
/// park (they sleep as soon as their queue is empty).
const SPARSE_GAP: Duration = Duration::from_micros(50);
/// Calls timed one by one for the percentile table printed after the criterion group.
const SPARSE_CALLS: u64 = 20_000;

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

/// The request's origin, as the tracing line gets it (the audited lines read the context).
struct Request {
    ip: IpAddr,
    id: &'static str,
}

const REQUEST: Request = Request {
    ip: IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7)),
    id: "req-4f1c2a9e",
};

#[inline(never)]
fn create_booking(user: &str, booking_id: u64) -> Result<u64, Refused> {
    if user.is_empty() || booking_id == u64::MAX {
        return Err(Refused);
    }
    Ok(booking_id + 1)
}

#[inline(never)]
#[audited(
    "FTMS_BOOKING_CREATED",
    entity_type = "booking",
    entity_id = booking_id,
    actor = user
)]
fn create_booking_audited(user: &str, booking_id: u64) -> Result<u64, Refused> {
    if user.is_empty() || booking_id == u64::MAX {
        return Err(Refused);
    }
    Ok(booking_id + 1)
}

#[inline(never)]
fn create_booking_traced(user: &str, booking_id: u64) -> Result<u64, Refused> {
    let result = create_booking(user, booking_id);
    tracing::info!(
        action = "FTMS_BOOKING_CREATED",
        category = "business",
        outcome = if result.is_ok() { "success" } else { "failure" },
        actor = user,
        entity_type = "booking",
        entity_id = booking_id,
        ip = %REQUEST.ip,
        request_id = REQUEST.id,
    );
    result
}

#[inline(never)]
fn create_booking_recorded(user: &str, booking_id: u64) -> Result<u64, Refused> {
    let result = create_booking(user, booking_id);
    let builder = AuditEvent::builder("FTMS_BOOKING_CREATED")
        .category(Category::Business)
        .actor(Actor::user(user))
        .entity("booking", booking_id.to_string());
    let builder = match &result {
        Ok(_) => builder.success(),
        Err(err) => builder.failure(err.to_string()),
    };
    audit_core::record(builder.build());
    result
}

#[inline(never)]
async fn create_booking_async(user: &str, booking_id: u64) -> Result<u64, Refused> {
    create_booking(user, booking_id)
}

#[inline(never)]
#[audited(
    "FTMS_BOOKING_CREATED",
    entity_type = "booking",
    entity_id = booking_id,
    actor = user
)]
async fn create_booking_async_audited(user: &str, booking_id: u64) -> Result<u64, Refused> {
    create_booking(user, booking_id)
}

fn auditor() -> Auditor {
    Auditor::builder(NoopSink)
        .queue_capacity(QUEUE_CAPACITY)
        .overflow(OverflowPolicy::DropNewest)
        .build()
        .expect("cannot build the bench auditor")
}

fn tracing_writer(dir: &std::path::Path) -> (NonBlocking, WorkerGuard) {
    let appender = tracing_appender::rolling::never(dir, "caller_overhead.log");
    NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUE_CAPACITY)
        .finish(appender)
}

/// Times `iters` calls of `f`, then drains the audit pipeline untimed, so the next sample
/// starts with an empty queue.
fn tight(auditor: &Auditor, iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    let elapsed = start.elapsed();
    auditor
        .flush_blocking()
        .expect("the bench auditor cannot flush");
    elapsed
}

/// Times each call on its own after an idle gap (spent spinning, untimed).
fn sparse(iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let idle = Instant::now();
        while idle.elapsed() < SPARSE_GAP {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        f(i);
        total += start.elapsed();
    }
    total
}

fn sync_lines(group: &mut BenchmarkGroup<'_, WallTime>, auditor: &Auditor) {
    group.bench_function("sync/bare", |b| {
        b.iter_custom(|iters| {
            tight(auditor, iters, |i| {
                let _ = black_box(create_booking(black_box("alice"), i));
            })
        })
    });
    group.bench_function("sync/audited", |b| {
        b.iter_custom(|iters| {
            tight(auditor, iters, |i| {
                let _ = black_box(create_booking_audited(black_box("alice"), i));
            })
        })
    });
    group.bench_function("sync/record_builder", |b| {
        b.iter_custom(|iters| {
            tight(auditor, iters, |i| {
                let _ = black_box(create_booking_recorded(black_box("alice"), i));
            })
        })
    });
}

fn async_lines(group: &mut BenchmarkGroup<'_, WallTime>, auditor: &Auditor) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("cannot build the bench runtime");
    group.bench_function("async/bare", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let _ = black_box(create_booking_async(black_box("alice"), i).await);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("async/audited", |b| {
        b.iter_custom(|iters| {
            let elapsed = runtime.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let _ = black_box(create_booking_async_audited(black_box("alice"), i).await);
                }
                start.elapsed()
            });
            auditor
                .flush_blocking()
                .expect("the bench auditor cannot flush");
            elapsed
        })
    });
}

fn tracing_lines(
    group: &mut BenchmarkGroup<'_, WallTime>,
    dispatch: &tracing::Dispatch,
    auditor: &Auditor,
) {
    tracing::dispatcher::with_default(dispatch, || {
        group.bench_function("sync/tracing_json", |b| {
            b.iter_custom(|iters| {
                tight(auditor, iters, |i| {
                    let _ = black_box(create_booking_traced(black_box("alice"), i));
                })
            })
        });
        group.bench_function("sparse/tracing_json", |b| {
            b.iter_custom(|iters| {
                sparse(iters, |i| {
                    let _ = black_box(create_booking_traced(black_box("alice"), i));
                })
            })
        });
    });
}

fn sparse_lines(group: &mut BenchmarkGroup<'_, WallTime>, auditor: &Auditor) {
    group.bench_function("sparse/bare", |b| {
        b.iter_custom(|iters| {
            sparse(iters, |i| {
                let _ = black_box(create_booking(black_box("alice"), i));
            })
        })
    });
    group.bench_function("sparse/audited", |b| {
        b.iter_custom(|iters| {
            let elapsed = sparse(iters, |i| {
                let _ = black_box(create_booking_audited(black_box("alice"), i));
            });
            auditor
                .flush_blocking()
                .expect("the bench auditor cannot flush");
            elapsed
        })
    });
}

/// Per-call latency percentiles of `SPARSE_CALLS` sparse calls (each after an idle gap).
///
/// Criterion reports a sample's mean, which one preemption in a sample dominates on a busy
/// machine; the percentiles show what a typical call costs and how long the tail is.
fn sparse_percentiles(label: &str, mut f: impl FnMut(u64)) -> [Duration; 4] {
    let mut calls: Vec<Duration> = (0..SPARSE_CALLS).map(|i| sparse(1, |_| f(i))).collect();
    calls.sort_unstable();
    let at = |q: f64| calls[((calls.len() - 1) as f64 * q) as usize];
    let figures = [at(0.5), at(0.9), at(0.99), at(0.999)];
    println!(
        "| {label} | {:.2} | {:.2} | {:.2} | {:.2} |",
        figures[0].as_secs_f64() * 1e6,
        figures[1].as_secs_f64() * 1e6,
        figures[2].as_secs_f64() * 1e6,
        figures[3].as_secs_f64() * 1e6,
    );
    figures
}

fn latency_table(dispatch: &tracing::Dispatch, auditor: &Auditor) {
    println!("sparse calls, {SPARSE_CALLS} each, {SPARSE_GAP:?} idle before each call:");
    println!("| call | p50 µs | p90 µs | p99 µs | p99.9 µs |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    sparse_percentiles("bare", |i| {
        let _ = black_box(create_booking(black_box("alice"), i));
    });
    sparse_percentiles("audited", |i| {
        let _ = black_box(create_booking_audited(black_box("alice"), i));
    });
    sparse_percentiles("record_builder", |i| {
        let _ = black_box(create_booking_recorded(black_box("alice"), i));
    });
    tracing::dispatcher::with_default(dispatch, || {
        sparse_percentiles("tracing_json", |i| {
            let _ = black_box(create_booking_traced(black_box("alice"), i));
        });
    });
    auditor
        .flush_blocking()
        .expect("the bench auditor cannot flush");
}

fn caller_overhead(c: &mut Criterion) {
    let auditor = auditor();
    auditor
        .set_global_default()
        .expect("the bench installs the only default auditor");
    let dir = tempfile::tempdir().expect("cannot create a temp dir for the tracing log");
    let (writer, writer_guard) = tracing_writer(dir.path());
    let dropped_lines = writer.error_counter();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(writer)
            .finish(),
    );

    let context = AuditContext::new().ip(REQUEST.ip).request_id(REQUEST.id);
    let mut group = c.benchmark_group("caller_overhead");
    context.sync_scope(|| {
        sync_lines(&mut group, &auditor);
        async_lines(&mut group, &auditor);
        tracing_lines(&mut group, &dispatch, &auditor);
        sparse_lines(&mut group, &auditor);
        group.finish();
        if std::env::var_os("AUDIT_BENCH_NO_PERCENTILES").is_none() {
            latency_table(&dispatch, &auditor);
        }
    });

    drop(dispatch);
    drop(writer_guard);
    auditor
        .shutdown_blocking()
        .expect("the bench auditor cannot shut down");
    let m = auditor.metrics();
    println!(
        "audit pipeline: policy DropNewest, capacity {QUEUE_CAPACITY}; enqueued {}, written {}, \
         dropped {}, over_capacity {}, invalid {}",
        m.enqueued, m.written, m.dropped, m.over_capacity, m.invalid
    );
    println!(
        "tracing-appender: lossy false, buffer {QUEUE_CAPACITY} lines; dropped lines {}",
        dropped_lines.dropped_lines()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = caller_overhead
}
criterion_main!(benches);

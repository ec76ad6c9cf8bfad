//! Issue 7, items 2 and 4: sustained persistence into an SQLite file with the hash chain on,
//! beside raw batched rusqlite inserts of the same rows into the same schema and indexes (a
//! prepared statement in one transaction per batch, the same page cache, no library), and
//! query latency at 1M events.
//!
//! `AUDIT_BENCH_EVENTS` (default 1 000 000) sets the fill, `AUDIT_BENCH_BATCH` (default
//! 1 000) the batch size. The one-shot fill rates are printed before criterion's results;
//! criterion then measures batches appended to the full files (sustained rate at 1M+).
//!
//! The default path a user gets is measured too, on the filled library file:
//! `Auditor::builder(SqliteStore::open(path)).build()` recording `AUDIT_BENCH_PIPELINE_EVENTS`
//! (default 200 000) ready-made events as fast as one producer can, rate = events written /
//! time to the end of `flush`, printed beside the raw floor appending as many rows to its
//! filled file in the same run. `AUDIT_BENCH_MAX_BATCHES` (e.g. `256,1024,4096,16384`) adds a
//! line per pipeline `max_batch_size`, and one caller of `append(256)` is set beside four
//! concurrent ones (the writer's group commit). Query latencies are measured first, while
//! the library file holds exactly the fill.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use audit_benches::{batch, env, epoch};
use audit_core::query::{AuditQuery, CountBy};
use audit_core::{AuditEvent, AuditStore};
use audit_pipeline::Auditor;
use audit_sqlite::SqliteStore;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::Connection;

#[path = "support/raw_sqlite.rs"]
mod raw_sqlite;

/// The library: `SqliteStore::append`, one transaction per batch, chain on.
struct Library {
    store: SqliteStore,
    next: u64,
}

impl Library {
    fn append(&mut self, rt: &tokio::runtime::Runtime, size: usize) -> Duration {
        let events = batch(self.next, size);
        self.next += size as u64;
        let start = Instant::now();
        rt.block_on(self.store.append(&events)).expect("append");
        start.elapsed()
    }
}

/// The floor: the same rows through one prepared INSERT per batch transaction.
struct Raw {
    conn: Connection,
    next: u64,
}

impl Raw {
    /// `tuned`: the library's own settings (64 MiB cache, 64 MiB WAL checkpoints); otherwise
    /// what a user would likely write: WAL, the same cache, SQLite's default checkpoints.
    fn open(path: &Path, tuned: bool) -> Self {
        let conn = Connection::open(path).expect("open raw");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;",
        )
        .expect("pragmas");
        if tuned {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 16384;")
                .expect("pragmas");
        }
        Self { conn, next: 0 }
    }

    fn append(&mut self, size: usize) -> Duration {
        let events = batch(self.next, size);
        let first = self.next;
        self.next += size as u64;
        let start = Instant::now();
        let tx = self.conn.transaction().expect("begin");
        raw_sqlite::insert_rows(&tx, first + 1, &events, |_| ([7u8; 32], [7u8; 32]));
        tx.commit().expect("commit");
        start.elapsed()
    }
}

fn rate(events: u64, spent: Duration) -> f64 {
    events as f64 / spent.as_secs_f64()
}

struct Files {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    library: Library,
    raw: Raw,
    raw_default: Raw,
}

/// Fills one library file and one raw file (same schema: created by the store) with the
/// same events, printing each sustained fill rate.
fn fill() -> Files {
    let events = env("AUDIT_BENCH_EVENTS", 1_000_000);
    let size = env("AUDIT_BENCH_BATCH", 1_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let store = SqliteStore::open(dir.path().join("library.db")).expect("open store");
    for raw in ["raw.db", "raw-default.db"] {
        drop(SqliteStore::open(dir.path().join(raw)).expect("create raw schema"));
    }
    let mut library = Library { store, next: 0 };
    let mut raw = Raw::open(&dir.path().join("raw.db"), true);
    let mut raw_default = Raw::open(&dir.path().join("raw-default.db"), false);
    let (mut lib_time, mut raw_time, mut default_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut done = 0;
    let mut report_at = 100_000;
    while done < events {
        let n = size.min(events - done);
        lib_time += library.append(&rt, n);
        raw_time += raw.append(n);
        default_time += raw_default.append(n);
        done += n;
        if done >= report_at || done == events {
            let (lib, raw, default) = (
                rate(done as u64, lib_time),
                rate(done as u64, raw_time),
                rate(done as u64, default_time),
            );
            eprintln!(
                "fill {done:>8} events (batch {size}): library {lib:>7.0} events/s | raw, same \
                 settings {raw:>7.0} rows/s (ratio {:.2}) | raw, default checkpoints \
                 {default:>7.0} rows/s (ratio {:.2})",
                lib / raw,
                lib / default,
            );
            report_at += 100_000;
        }
    }
    Files {
        _dir: dir,
        rt,
        library,
        raw,
        raw_default,
    }
}

/// Records `n` events through an `Auditor` on `store` (default builder, or with
/// `max_batch`), returning events written per second to the end of `flush`.
fn pipeline_rate(files: &mut Files, n: usize, max_batch: Option<usize>) -> f64 {
    let events = batch(files.library.next, n);
    files.library.next += n as u64;
    let builder = Auditor::builder(files.library.store.clone());
    let builder = match max_batch {
        Some(size) => builder.max_batch_size(size),
        None => builder,
    };
    let auditor = builder.build().expect("auditor");
    let start = Instant::now();
    for event in events {
        auditor.record(event);
    }
    auditor.flush_blocking().expect("flush");
    let spent = start.elapsed();
    let metrics = auditor.metrics();
    auditor.shutdown_blocking().expect("shutdown");
    assert_eq!(
        (metrics.dropped, metrics.failed, metrics.spooled),
        (0, 0, 0),
        "the bench must persist every event: {metrics:?}"
    );
    rate(metrics.written, spent)
}

/// `callers` tasks each appending batches of `size` until `n` events are stored.
fn concurrent_append_rate(files: &mut Files, n: usize, size: usize, callers: usize) -> f64 {
    let calls = n / size;
    let mut batches: Vec<Vec<AuditEvent>> = (0..calls)
        .map(|k| batch(files.library.next + (k * size) as u64, size))
        .collect();
    files.library.next += (calls * size) as u64;
    let per_caller = calls.div_ceil(callers);
    let store = &files.library.store;
    let start = Instant::now();
    files.rt.block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let mine: Vec<_> = batches.drain(..per_caller.min(batches.len())).collect();
                let store = store.clone();
                tokio::spawn(async move {
                    for events in mine {
                        store.append(&events).await.expect("append");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    });
    rate((calls * size) as u64, start.elapsed())
}

/// The raw floor over `n` rows at the bench batch size, on its filled file.
fn raw_rate(files: &mut Files, n: usize, size: usize) -> f64 {
    let mut spent = Duration::ZERO;
    let mut done = 0;
    while done < n {
        let k = size.min(n - done);
        spent += files.raw.append(k);
        done += k;
    }
    rate(n as u64, spent)
}

/// The pipeline's default `max_batch_size` (`AuditorBuilder::max_batch_size`).
const PIPELINE_MAX_BATCH: usize = 4096;

/// The default path a user gets, sustained on the filled file, beside the raw floor.
fn default_pipeline(files: &mut Files) {
    let n = env("AUDIT_BENCH_PIPELINE_EVENTS", 200_000);
    let size = env("AUDIT_BENCH_BATCH", 1_000);
    let at = files.library.next;
    let raw = raw_rate(files, n, size);
    // The pipeline commits at most its default `max_batch_size` events at a time.
    let raw_default = raw_rate(files, n, PIPELINE_MAX_BATCH);
    let default = pipeline_rate(files, n, None);
    eprintln!(
        "default pipeline at {at} events: Auditor::builder(SqliteStore::open(..)).build() \
         {default:>7.0} events/s | raw rusqlite, same schema, batch {size} {raw:>7.0} rows/s \
         (ratio {:.2}), batch {PIPELINE_MAX_BATCH} {raw_default:>7.0} rows/s (ratio {:.2})",
        default / raw,
        default / raw_default,
    );
    // Group commit: appends of 256 waiting behind one another share one commit.
    let events_per_call = 256;
    let sequential = concurrent_append_rate(files, n, events_per_call, 1);
    let concurrent = concurrent_append_rate(files, n, events_per_call, 4);
    eprintln!(
        "append({events_per_call}) one caller {sequential:>7.0} events/s | four concurrent \
         callers (group commit) {concurrent:>7.0} events/s (ratio {:.2})",
        concurrent / sequential
    );
    let sizes = std::env::var("AUDIT_BENCH_MAX_BATCHES").unwrap_or_default();
    for max_batch in sizes.split(',').filter_map(|s| s.trim().parse().ok()) {
        let at = files.library.next;
        let got = pipeline_rate(files, n, Some(max_batch));
        eprintln!(
            "pipeline max_batch_size({max_batch}) at {at} events: {got:>7.0} events/s \
             (ratio {:.2} to raw)",
            got / raw
        );
    }
}

fn sqlite(c: &mut Criterion) {
    let mut files = fill();
    let size = env("AUDIT_BENCH_BATCH", 1_000);
    // Queries first, while the library file holds exactly the fill; the appends after grow it.
    queries(c, &files);
    default_pipeline(&mut files);

    let mut group = c.benchmark_group("sqlite_append_at_1M");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(size as u64));
    group.bench_function(BenchmarkId::new("library_chained", size), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| files.library.append(&files.rt, size))
                .sum()
        })
    });
    group.bench_function(BenchmarkId::new("raw_rusqlite", size), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| files.raw.append(size)).sum())
    });
    group.bench_function(
        BenchmarkId::new("raw_rusqlite_default_checkpoints", size),
        |b| b.iter_custom(|iters| (0..iters).map(|_| files.raw_default.append(size)).sum()),
    );
    group.finish();
}

fn queries(c: &mut Criterion, files: &Files) {
    let store = files.library.store.clone();
    let rt = &files.rt;
    let month_start = epoch() + chrono::Duration::days(20);
    let month_end = month_start + chrono::Duration::days(30);
    let queries: Vec<(&str, AuditQuery)> = vec![
        (
            "newest_50_for_actor",
            AuditQuery::new().actor("user-417").limit(50),
        ),
        (
            "entity_history",
            AuditQuery::new()
                .entity_type("booking")
                .entity_id("b-4242")
                .limit(50),
        ),
        (
            "cidr_10.7.0.0/16_newest_50",
            AuditQuery::new()
                .ip_in("10.7.0.0/16".parse().expect("net"))
                .limit(50),
        ),
    ];
    let mut group = c.benchmark_group("sqlite_query_at_1M");
    group.sample_size(50);
    for (name, query) in &queries {
        group.bench_function(BenchmarkId::new("library", name), |b| {
            b.to_async(rt)
                .iter(|| async { black_box(store.query(query).await.expect("query")) })
        });
    }
    let month = AuditQuery::new().since(month_start).until(month_end);
    group.bench_function(BenchmarkId::new("library", "count_by_action_month"), |b| {
        b.to_async(rt).iter(|| async {
            black_box(
                store
                    .count_by(&month, CountBy::Action)
                    .await
                    .expect("count"),
            )
        })
    });
    let per_day = month.clone().action("FTMS_BOOKING_CREATED");
    group.bench_function(
        BenchmarkId::new("library", "count_per_day_one_action_month"),
        |b| {
            b.to_async(rt).iter(|| async {
                black_box(store.count_by(&per_day, CountBy::Day).await.expect("count"))
            })
        },
    );
    // The floor for the two indexed lookups: the SQL the store runs (the lookup indexes lead
    // with the seq bucket, `seq >> 13`, so it walks buckets newest first) on a bare
    // connection, rows stepped but not decoded into events.
    let raw = &files.raw.conn;
    for (name, sql, param) in [
        (
            "newest_50_for_actor",
            "SELECT * FROM audit_events WHERE (seq >> 13) IN (WITH RECURSIVE b(x) AS (SELECT \
             (SELECT min(seq) FROM audit_events) >> 13 UNION ALL SELECT x + 1 FROM b WHERE x < \
             (SELECT max(seq) FROM audit_events) >> 13) SELECT x FROM b) AND actor_id = ?1 \
             ORDER BY (seq >> 13) DESC, seq DESC LIMIT 51",
            "user-417",
        ),
        (
            "entity_history",
            "SELECT * FROM audit_events WHERE (seq >> 13) IN (WITH RECURSIVE b(x) AS (SELECT \
             (SELECT min(seq) FROM audit_events) >> 13 UNION ALL SELECT x + 1 FROM b WHERE x < \
             (SELECT max(seq) FROM audit_events) >> 13) SELECT x FROM b) AND entity_id = ?1 \
             AND entity_type = 'booking' ORDER BY (seq >> 13) DESC, seq DESC LIMIT 51",
            "b-4242",
        ),
    ] {
        group.bench_function(BenchmarkId::new("raw_rusqlite", name), |b| {
            b.iter(|| {
                let mut stmt = raw.prepare(sql).expect("prepare");
                let mut rows = stmt.query([param]).expect("query");
                let mut n = 0;
                while let Some(row) = rows.next().expect("step") {
                    black_box(row.get_ref(0).expect("col"));
                    n += 1;
                }
                n
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sqlite);
criterion_main!(benches);

//! Verification rate of a chain of `AUDIT_BENCH_EVENTS` events (default 1M), SHA-256 and
//! HMAC-SHA256, on one thread and on every core (issue 7 item 5, issue 19).
//!
//! Criterion lines (group `verify_chain`), per hasher, on a chain held in memory:
//! - `library_verifier`: [`ChainVerifier::push`] on one thread;
//! - `library_verifier_all_cores`: [`verify_parallel`] on every core (hash in parallel, then
//!   link in order);
//! - `raw_rehash`: the bare hash of each record's canonical bytes on one thread, which is what
//!   a user would otherwise run; beside `library_verifier` it shows what fault classification
//!   costs on top of hashing.
//!
//! Then a table, printed with the load average before and after: one thread against every
//! core, in rounds that alternate the two (`AUDIT_BENCH_VERIFY_ROUNDS`, default 5; medians),
//! so that both see the same machine load. Its lines are the in-memory chain for each hasher,
//! and a SQLite file of the same number of events verified in process through
//! `SqliteStore::verify_chain_with` (read in stripes by one connection per thread on one
//! snapshot, each decoding and hashing its rows, linked in order). The file is filled once through `SqliteStore::append` in batches of 10 000 and
//! kept in `target/bench-data`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit_core::chain::{
    ChainAnchor, ChainHash, ChainHasher, ChainVerifier, Parallelism, canonical_bytes,
    verify_parallel,
};
use audit_core::store::VerifyScope;
use audit_core::{Actor, AuditEvent, StoredEvent};
use audit_sqlite::SqliteStore;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn events() -> usize {
    env("AUDIT_BENCH_EVENTS", 1_000_000)
}

fn event(i: usize) -> AuditEvent {
    AuditEvent::builder("FTMS_BOOKING_CREATED")
        .actor(Actor::user(format!("user-{}", i % 1000)))
        .entity("booking", format!("b-{i}"))
        .ip(std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8]))
        .request_id(format!("req-{i:08}"))
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) bench")
        .description("booking created for a fitness class")
        .metadata_entry("seats", i % 7)
        .build()
}

fn chain(hasher: &ChainHasher, n: usize) -> Vec<StoredEvent> {
    let mut prev = ChainHash::ZERO;
    (0..n)
        .map(|i| {
            let event = event(i);
            let hash = hasher.hash(&prev, &event);
            let record = StoredEvent {
                seq: i as u64 + 1,
                prev_hash: prev,
                hash,
                event,
            };
            prev = hash;
            record
        })
        .collect()
}

fn sequential(hasher: &ChainHasher, records: &[StoredEvent]) -> u64 {
    let mut verifier = ChainVerifier::new(hasher.clone());
    for record in records {
        let _ = verifier.push(record);
    }
    let report = verifier.finish(None);
    assert!(report.is_valid());
    report.checked
}

fn all_cores(hasher: &ChainHasher, records: &[StoredEvent]) -> u64 {
    let report = verify_parallel(
        hasher.clone(),
        ChainAnchor::GENESIS,
        records,
        None,
        Parallelism::available(),
    );
    assert!(report.is_valid());
    report.checked
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU time this process has used so far, every thread included (`utime + stime` of
/// `/proc/self/stat`, in the kernel's 100 Hz ticks); zero where there is no such file.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Wall and CPU time of one run.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
}

fn run(f: &mut dyn FnMut() -> u64) -> Run {
    let (start, cpu) = (Instant::now(), cpu_time());
    black_box(f());
    Run {
        wall: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
    }
}

/// The run of median wall time.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_unstable_by_key(|r| r.wall);
    runs[runs.len() / 2]
}

/// One thread against every core, alternating, `AUDIT_BENCH_VERIFY_ROUNDS` rounds: the
/// median run of each.
fn rounds(mut one: impl FnMut() -> u64, mut all: impl FnMut() -> u64) -> (Run, Run) {
    let n = env("AUDIT_BENCH_VERIFY_ROUNDS", 5).max(1);
    let (ones, alls) = (0..n).map(|_| (run(&mut one), run(&mut all))).unzip();
    (median(ones), median(alls))
}

struct Line {
    what: String,
    one: Run,
    all: Run,
}

fn print_table(n: usize, load_before: &str, lines: &[Line]) {
    let threads = Parallelism::available().thread_count();
    let rate = |r: Run| n as f64 / r.wall.as_secs_f64() / 1e6;
    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "verification of {n} events, 1 thread against {threads} (median of {} alternating \
         rounds); load average before {load_before}, after {}",
        env("AUDIT_BENCH_VERIFY_ROUNDS", 5).max(1),
        load()
    );
    println!(
        "| chain | 1 thread: rate (wall, CPU) | {threads} threads: rate (wall, CPU) | ratio | \
         CPU ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for line in lines {
        println!(
            "| {} | {:.2} M events/s ({:.2} s, {:.2} s) | {:.2} M events/s ({:.2} s, {:.2} s) \
             | {:.2} | {:.2} |",
            line.what,
            rate(line.one),
            secs(line.one.wall),
            secs(line.one.cpu),
            rate(line.all),
            secs(line.all.wall),
            secs(line.all.cpu),
            secs(line.one.wall) / secs(line.all.wall),
            secs(line.all.cpu) / secs(line.one.cpu).max(1e-9),
        );
    }
    println!(
        "ratio: the one-thread wall time over the {threads}-thread one (the speed-up); CPU \
         ratio: the CPU time of the {threads}-thread run over the one-thread run's (what \
         spreading the work costs)."
    );
}

/// Fills (once) and returns a SQLite store of `n` events (SHA-256 chain).
fn sqlite_file(n: usize, runtime: &tokio::runtime::Runtime) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench data dir");
    let path = dir.join(format!("verify-{n}-v1.db"));
    let ready = dir.join(format!("verify-{n}-v1.ready"));
    if ready.exists() {
        return path;
    }
    for stale in [path.clone(), path.with_extension("db-wal")] {
        let _ = std::fs::remove_file(stale);
    }
    let start = Instant::now();
    runtime.block_on(async {
        let store = SqliteStore::open(&path).expect("open the bench store");
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..n {
            batch.push(event(i));
            if batch.len() == 10_000 || i + 1 == n {
                store.append(&batch).await.expect("append");
                batch.clear();
            }
        }
        store.checkpoint_wal().await.expect("checkpoint");
    });
    eprintln!(
        "verify bench: {} filled with {n} events in {:.0?} (once)",
        path.display(),
        start.elapsed()
    );
    std::fs::write(&ready, b"").expect("marker");
    path
}

/// Reading alone, on one connection: step through the same rows in seq order and touch
/// every column, decoding and hashing nothing. A verification that reads on one thread
/// cannot pass this rate; the striped one, reading on every core, can.
fn sqlite_read_floor(path: &Path) -> Run {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the bench store");
    let columns: usize = conn
        .prepare("SELECT * FROM audit_events LIMIT 0")
        .expect("prepare")
        .column_count();
    let mut f = || {
        let mut stmt = conn
            .prepare("SELECT * FROM audit_events ORDER BY seq")
            .expect("prepare");
        let mut rows = stmt.query([]).expect("query");
        let (mut n, mut bytes) = (0u64, 0usize);
        while let Some(row) = rows.next().expect("step") {
            for i in 0..columns {
                bytes += match row.get_ref(i).expect("column") {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        b.len()
                    }
                    _ => 8,
                };
            }
            n += 1;
        }
        black_box(bytes);
        n
    };
    median((0..3).map(|_| run(&mut f)).collect())
}

fn sqlite_line(n: usize) -> Line {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let path = sqlite_file(n, &runtime);
    let store = SqliteStore::open(&path).expect("open the bench store");
    let verify = |parallelism: Parallelism| {
        let report = runtime
            .block_on(store.verify_chain_with(VerifyScope::All, None, parallelism))
            .expect("verify");
        assert!(report.is_valid(), "{:?}", report.fault);
        assert_eq!(report.checked, n as u64);
        report.checked
    };
    let (one, all) = rounds(
        || verify(Parallelism::sequential()),
        || verify(Parallelism::available()),
    );
    let floor = sqlite_read_floor(&path);
    eprintln!(
        "verify bench: the SQLite snapshot read alone (every column of every row, nothing \
         decoded): {:.2} M rows/s ({:.2} s, CPU {:.2} s)",
        n as f64 / floor.wall.as_secs_f64() / 1e6,
        floor.wall.as_secs_f64(),
        floor.cpu.as_secs_f64()
    );
    Line {
        what: "SQLite file, SHA-256 (`SqliteStore::verify_chain_with`)".into(),
        one,
        all,
    }
}

fn verification(c: &mut Criterion) {
    let n = events();
    let load_before = load();
    let mut lines = Vec::new();
    let mut group = c.benchmark_group("verify_chain");
    group.sample_size(10);
    // One iteration of a long chain takes seconds: equal samples, not a growing series.
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(n as u64));
    for (name, title, hasher) in [
        ("sha256", "SHA-256", ChainHasher::sha256()),
        (
            "hmac_sha256",
            "HMAC-SHA256",
            ChainHasher::hmac_sha256(b"bench key"),
        ),
    ] {
        let records = chain(&hasher, n);
        group.bench_with_input(
            BenchmarkId::new("library_verifier", name),
            &records,
            |b, records| b.iter(|| black_box(sequential(&hasher, records))),
        );
        group.bench_with_input(
            BenchmarkId::new("library_verifier_all_cores", name),
            &records,
            |b, records| b.iter(|| black_box(all_cores(&hasher, records))),
        );
        group.bench_with_input(
            BenchmarkId::new("raw_rehash", name),
            &records,
            |b, records| {
                b.iter(|| {
                    let mut buf = Vec::with_capacity(512);
                    let mut ok = true;
                    for record in records {
                        buf.clear();
                        buf.extend_from_slice(record.prev_hash.as_bytes());
                        canonical_bytes(&record.event, &mut buf);
                        ok &= hasher.hash_bytes(&buf) == record.hash;
                    }
                    black_box(ok)
                })
            },
        );
        let (one, all) = rounds(
            || sequential(&hasher, &records),
            || all_cores(&hasher, &records),
        );
        lines.push(Line {
            what: format!("in memory, {title}"),
            one,
            all,
        });
    }
    group.finish();
    lines.push(sqlite_line(n));
    print_table(n, &load_before, &lines);
}

criterion_group!(benches, verification);
criterion_main!(benches);

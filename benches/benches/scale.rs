//! How the cost of an SQLite log grows from one to ten million events, in one run (issue 19).
//!
//! Three files fill side by side, segment by segment, to each milestone of
//! `AUDIT_BENCH_SCALE` (default `1000000,3000000,10000000`; `100000,300000` is a quick look):
//!
//! - **library**: the default path, `Auditor::builder(SqliteStore::open(path)).build()`, the
//!   events recorded as fast as one producer can; the time runs to the end of `flush`.
//! - **floor**: raw rusqlite inserting the same rows, chain hashes computed, into the same
//!   table with no secondary index: what the data itself costs.
//! - **raw, library schema**: the same rows into a file the store created (every index).
//! - with `AUDIT_BENCH_SCALE_DIRECT=1`, **store, direct**: `SqliteStore::append` of the same
//!   4 096-event batches into a fourth file, without the pipeline (what the pipeline adds).
//!
//! The raw arms commit the pipeline's default batch (4 096 rows). At each milestone the
//! bench prints each arm's rate over the segment, the p50 and p99 of six lookups on the
//! library file (`AUDIT_BENCH_SAMPLES` runs each, default 200), and the files' sizes; then
//! one table with a column per milestone.
//!
//! With `DATABASE_URL` set, a second table does the same for PostgreSQL: `PgStore::append`
//! of 4 096-event batches, the six lookups and the schema's size (its COPY floor and its
//! concurrent writers are the `postgres` bench's).
//!
//! `cargo bench -p audit-benches --bench scale` (SQLite), or
//! `bash scripts/bench.sh -- --bench scale` (with a PostgreSQL server).

use std::path::Path;
use std::time::{Duration, Instant};

use audit_benches::{batch, env};
use audit_core::query::AuditQuery;
use audit_core::{Actor, AuditEvent, AuditStore, ChainHash, ChainHasher};
use audit_pipeline::Auditor;
use audit_sqlite::SqliteStore;
use audit_sqlx::sqlx_postgres::Postgres;
use audit_sqlx::{PgOptions, PgStore};
use rusqlite::Connection;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::sql_str::AssertSqlSafe;

#[path = "support/raw_sqlite.rs"]
mod raw_sqlite;

/// Events generated (outside the timed sections) and fed to every arm at a time.
const CHUNK: usize = 100_000;

/// The pipeline's default `max_batch_size`; the raw arms commit as much at a time.
const RAW_BATCH: usize = 4096;

/// One raw rusqlite file and its chain state.
struct Raw {
    conn: Connection,
    hasher: ChainHasher,
    prev: ChainHash,
    next_seq: u64,
}

impl Raw {
    /// A file created by the store (so the same table), with every index dropped when
    /// `bare`.
    fn create(path: &Path, bare: bool) -> Self {
        drop(SqliteStore::open(path).expect("create the schema"));
        let conn = Connection::open(path).expect("open raw");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536; \
             PRAGMA wal_autocheckpoint = 16384;",
        )
        .expect("pragmas");
        if bare {
            let indexes: Vec<String> = conn
                .prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' \
                     AND tbl_name = 'audit_events' AND sql IS NOT NULL",
                )
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .expect("list indexes");
            for index in indexes {
                conn.execute_batch(&format!("DROP INDEX {index}"))
                    .expect("drop index");
            }
        }
        Self {
            conn,
            hasher: ChainHasher::sha256(),
            prev: ChainHash::ZERO,
            next_seq: 1,
        }
    }

    /// Inserts `events` in transactions of [`RAW_BATCH`] rows, chain hashes included.
    fn insert(&mut self, events: &[AuditEvent]) -> Duration {
        let start = Instant::now();
        for rows in events.chunks(RAW_BATCH) {
            let tx = self.conn.transaction().expect("begin");
            let (hasher, prev) = (&self.hasher, &mut self.prev);
            raw_sqlite::insert_rows(&tx, self.next_seq, rows, |k| {
                let hash = hasher.hash(prev, &rows[k]);
                let link = (*prev.as_bytes(), *hash.as_bytes());
                *prev = hash;
                link
            });
            tx.commit().expect("commit");
            self.next_seq += rows.len() as u64;
        }
        start.elapsed()
    }

    fn size(&self) -> u64 {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
        file_size(self.conn.path().expect("a file"))
    }
}

fn file_size(path: impl AsRef<Path>) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Event `i` of the workload; event `solo` alone has its actor and its entity.
fn event(i: u64, solo: u64) -> AuditEvent {
    let mut e = batch(i, 1).remove(0);
    if i == solo {
        e.actor = Some(Actor::user("solo-actor"));
        e.entity_id = Some("solo-entity".into());
    }
    e
}

/// The lookups of the issue, each named.
fn lookups(solo: u64) -> Vec<(&'static str, AuditQuery)> {
    let request = event(solo / 2, solo)
        .request_id
        .expect("the workload sets request ids");
    vec![
        (
            "newest 50, frequent actor",
            AuditQuery::new().actor("user-417").limit(50),
        ),
        (
            "newest 50, actor seen once",
            AuditQuery::new().actor("solo-actor").limit(50),
        ),
        (
            "entity history (50)",
            AuditQuery::new()
                .entity_type("booking")
                .entity_id("b-4242")
                .limit(50),
        ),
        (
            "entity seen once",
            AuditQuery::new().entity_id("solo-entity").limit(50),
        ),
        (
            "request id",
            AuditQuery::new().request_id(request).limit(50),
        ),
        (
            "CIDR /24, newest 50",
            AuditQuery::new()
                .ip_in("10.7.8.0/24".parse().expect("net"))
                .limit(50),
        ),
    ]
}

/// p50 and p99 of `samples` runs of `query`, in milliseconds.
fn latency(
    rt: &tokio::runtime::Runtime,
    store: &impl AuditStore,
    query: &AuditQuery,
    samples: usize,
) -> (f64, f64) {
    for _ in 0..samples.min(10) {
        rt.block_on(store.query(query)).expect("warm-up query");
    }
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(rt.block_on(store.query(query)).expect("query"));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

/// What one milestone measured on one backend.
struct Milestone {
    events: u64,
    /// Each arm's rate over the segment that ended here, the library's first.
    rates: Vec<(&'static str, f64)>,
    lookups: Vec<(&'static str, (f64, f64))>,
    /// Each file's (or schema's) size, the library's first.
    sizes: Vec<(&'static str, u64)>,
}

fn rate(events: u64, spent: Duration) -> f64 {
    events as f64 / spent.as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("scale: bench");
        return;
    }
    let milestones: Vec<u64> = std::env::var("AUDIT_BENCH_SCALE")
        .unwrap_or_else(|_| "1000000,3000000,10000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let samples = env("AUDIT_BENCH_SAMPLES", 200);
    let solo = milestones.first().copied().unwrap_or(1_000_000) / 2;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sqlite = sqlite(&rt, &milestones, samples, solo);
    let postgres = std::env::var("DATABASE_URL")
        .ok()
        .map(|url| postgres(&rt, &url, &milestones, samples, solo));
    print_table("SQLite", &sqlite);
    match postgres {
        Some(results) => print_table("PostgreSQL", &results),
        None => eprintln!(
            "PostgreSQL: DATABASE_URL is not set, not measured \
             (`bash scripts/bench.sh -- --bench scale` starts a server)"
        ),
    }
}

fn sqlite(
    rt: &tokio::runtime::Runtime,
    milestones: &[u64],
    samples: usize,
    solo: u64,
) -> Vec<Milestone> {
    let dir = tempfile::tempdir().expect("temp dir");
    let library_path = dir.path().join("library.db");
    let store = SqliteStore::open(&library_path).expect("open the library file");
    let auditor = {
        let _guard = rt.enter();
        Auditor::builder(store.clone()).build().expect("auditor")
    };
    let mut floor = Raw::create(&dir.path().join("floor.db"), true);
    let mut raw_schema = Raw::create(&dir.path().join("raw-schema.db"), false);
    let direct = std::env::var_os("AUDIT_BENCH_SCALE_DIRECT")
        .map(|_| SqliteStore::open(dir.path().join("direct.db")).expect("open the direct file"));
    let mut results = Vec::new();
    let mut done = 0u64;
    for &target in milestones {
        let (mut library, mut bare, mut schema, mut direct_time) = (
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
        );
        let segment = target - done;
        while done < target {
            let n = CHUNK.min((target - done) as usize) as u64;
            let events: Vec<AuditEvent> = (done..done + n).map(|i| event(i, solo)).collect();
            bare += floor.insert(&events);
            schema += raw_schema.insert(&events);
            if let Some(store) = &direct {
                let start = Instant::now();
                for batch in events.chunks(RAW_BATCH) {
                    rt.block_on(store.append(batch)).expect("direct append");
                }
                direct_time += start.elapsed();
            }
            let start = Instant::now();
            for event in events {
                auditor.record(event);
            }
            auditor.flush_blocking().expect("flush");
            library += start.elapsed();
            done += n;
        }
        // A write that outlives the sink's deadline on a loaded machine diverts its batch to
        // the spool, which replays it: counted, and nothing may be lost.
        let metrics = auditor.metrics();
        assert_eq!(
            (metrics.dropped, metrics.failed, metrics.written),
            (0, 0, done),
            "the bench must persist every event: {metrics:?}"
        );
        if metrics.spooled > 0 {
            eprintln!(
                "SQLite: {} events went through the spool (a write outlived its deadline), \
                 {} replayed",
                metrics.spooled, metrics.replayed
            );
        }
        rt.block_on(store.checkpoint_wal())
            .expect("fold the WAL in");
        let lookups = lookups(solo)
            .into_iter()
            .map(|(name, q)| (name, latency(rt, &store, &q, samples)))
            .collect();
        let mut rates = vec![
            (
                "library (default pipeline), events/s",
                rate(segment, library),
            ),
            ("floor: raw, no index, rows/s", rate(segment, bare)),
            ("raw, library schema, rows/s", rate(segment, schema)),
        ];
        if direct.is_some() {
            rates.push(("SqliteStore::append, events/s", rate(segment, direct_time)));
        }
        let m = Milestone {
            events: done,
            rates,
            lookups,
            sizes: vec![
                ("library", file_size(&library_path)),
                ("floor", floor.size()),
                ("raw, library schema", raw_schema.size()),
            ],
        };
        print_milestone("SQLite", &m);
        results.push(m);
    }
    auditor.shutdown_blocking().expect("shutdown");
    results
}

/// PostgreSQL: `PgStore::append` of 4 096-event batches (the pipeline's batch) into a fresh
/// schema; the COPY floor and concurrent writers are the `postgres` bench's.
fn postgres(
    rt: &tokio::runtime::Runtime,
    url: &str,
    milestones: &[u64],
    samples: usize,
    solo: u64,
) -> Vec<Milestone> {
    let schema = format!("bench_scale_{}", std::process::id());
    let store = rt
        .block_on(PgStore::connect_with(
            PgOptions::new(url).schema(&schema).expect("valid schema"),
        ))
        .expect("connect to DATABASE_URL");
    let mut results = Vec::new();
    let mut done = 0u64;
    for &target in milestones {
        let segment = target - done;
        let mut spent = Duration::ZERO;
        while done < target {
            let n = CHUNK.min((target - done) as usize) as u64;
            let events: Vec<AuditEvent> = (done..done + n).map(|i| event(i, solo)).collect();
            let start = Instant::now();
            for batch in events.chunks(RAW_BATCH) {
                rt.block_on(store.append(batch)).expect("append");
            }
            spent += start.elapsed();
            done += n;
        }
        rt.block_on(
            raw_sql(AssertSqlSafe(format!(
                "VACUUM ANALYZE {schema}.audit_events"
            )))
            .execute(store.pool()),
        )
        .expect("vacuum analyze");
        let lookups = lookups(solo)
            .into_iter()
            .map(|(name, q)| (name, latency(rt, &store, &q, samples)))
            .collect();
        let bytes: i64 = rt
            .block_on(
                query_scalar::<Postgres, i64>(AssertSqlSafe(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relkind = 'r'",
                ))
                .bind(&schema)
                .fetch_one(store.pool()),
            )
            .expect("schema size");
        let m = Milestone {
            events: done,
            rates: vec![("PgStore::append (4 096), events/s", rate(segment, spent))],
            lookups,
            sizes: vec![(
                "schema, tables and indexes",
                u64::try_from(bytes).unwrap_or(0),
            )],
        };
        print_milestone("PostgreSQL", &m);
        results.push(m);
    }
    rt.block_on(async {
        raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(store.pool())
            .await
            .expect("drop the bench schema");
        store.close().await;
    });
    results
}

fn print_milestone(backend: &str, m: &Milestone) {
    let (_, library) = m.rates[0];
    let rates: Vec<String> = m
        .rates
        .iter()
        .map(|(name, r)| format!("{name} {r:.0} (library / it {:.2})", library / r))
        .collect();
    eprintln!("{backend} at {} events: {}", m.events, rates.join(" | "));
    for (name, (p50, p99)) in &m.lookups {
        eprintln!("  {name:<28} p50 {p50:.3} ms  p99 {p99:.3} ms");
    }
}

fn print_table(backend: &str, results: &[Milestone]) {
    let Some(first) = results.first() else {
        return;
    };
    let header: Vec<String> = results.iter().map(|m| m.events.to_string()).collect();
    println!("\n| {backend} | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(results.len()));
    let row = |label: &str, cell: &dyn Fn(&Milestone) -> String| {
        let cells: Vec<String> = results.iter().map(cell).collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    for (i, (name, _)) in first.rates.iter().enumerate() {
        row(name, &|m| format!("{:.0}", m.rates[i].1));
        if i > 0 {
            row(
                &format!("library / {}", name.split(',').next().unwrap_or(name)),
                &|m| format!("{:.2}", m.rates[0].1 / m.rates[i].1),
            );
        }
    }
    for (i, (name, _)) in first.lookups.iter().enumerate() {
        row(&format!("{name}, p50 / p99 ms"), &|m| {
            let (p50, p99) = m.lookups[i].1;
            format!("{p50:.3} / {p99:.3}")
        });
    }
    for (i, (name, _)) in first.sizes.iter().enumerate() {
        row(&format!("{name}, bytes/event"), &|m| {
            format!("{:.0}", m.sizes[i].1 as f64 / m.events as f64)
        });
    }
}

//! Issue 16: sustained persistence to MySQL/MariaDB with the hash chain on (every batch takes
//! the multi-writer head lock, links, inserts and moves the head in one transaction), beside
//! raw batched inserts of the same rows into the same table with the same indexes and no
//! library, in the same run; and query latency at the fill.
//!
//! Needs a server: `bash scripts/bench.sh -- --bench mysql` (starts one, durable: every
//! commit is flushed), or `MYSQL_URL=... cargo bench -p audit-benches --bench mysql`. Without
//! `MYSQL_URL` it prints a notice and measures nothing.
//!
//! `AUDIT_BENCH_MYSQL_EVENTS` (default 1 000 000) fills both tables first (1 000-event
//! batches, library and raw interleaved; the fill rates are printed), so criterion measures
//! at 1M+ rows, where the indexes no longer fit in a few pages.
//!
//! Lines (throughput in events/s, 1 000-event batches, each batch its own transaction):
//! - `raw_multi_row_insert`: one prepared multi-row `INSERT` of ready rows, no chain, no
//!   head lock — the floor. (`LOAD DATA LOCAL INFILE` is not an option: the sqlx MySQL driver
//!   does not implement its client side.)
//! - `library_chain`: `MySqlStore::append`.
//! - `library_chain_2_writers`: two tasks appending at once through the head lock (same
//!   store and table).
//! - `query_*`: the library's queries at the fill (newest 50 of one actor, one entity's
//!   history, a CIDR /16, counts by action over one day).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audit_benches::{batch, env, epoch, fresh_ids};
use audit_core::chain::{ChainHash, ChainHasher};
use audit_core::fields::{self, Field, FieldValue};
use audit_core::query::{AuditQuery, CountBy};
use audit_core::{AuditEvent, AuditStore};
use audit_sqlx::sqlx_mysql::{MySql, MySqlArguments, MySqlPool, MySqlPoolOptions};
use audit_sqlx::{MySqlOptions, MySqlStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx_core::arguments::Arguments;
use sqlx_core::query::query_with;
use sqlx_core::sql_str::AssertSqlSafe;

const BATCH: usize = 1000;

/// What a hand-written loader has ready before it inserts: the events, their metadata text
/// and some 32-byte hashes (it does not chain).
struct RawRows {
    events: Vec<AuditEvent>,
    metadata: Vec<String>,
    hashes: Vec<ChainHash>,
}

impl RawRows {
    fn new(events: Vec<AuditEvent>) -> Self {
        let hasher = ChainHasher::sha256();
        Self {
            metadata: events.iter().map(|e| e.metadata.to_string()).collect(),
            hashes: events
                .iter()
                .map(|e| hasher.hash(&ChainHash::ZERO, e))
                .collect(),
            events,
        }
    }
}

/// The raw path: one multi-row `INSERT` with bound parameters, in its own transaction.
struct Raw {
    pool: MySqlPool,
    sql: String,
    next_seq: AtomicU64,
}

impl Raw {
    fn new(pool: MySqlPool, table: &str) -> Self {
        let group = format!("({})", vec!["?"; Field::ALL.len() + 3].join(", "));
        let sql = format!(
            "INSERT INTO {table} (seq, {}, prev_hash, hash) VALUES {}",
            fields::column_list(),
            vec![group; BATCH].join(", ")
        );
        Self {
            pool,
            sql,
            next_seq: AtomicU64::new(1),
        }
    }

    async fn insert(&self, rows: &RawRows) {
        let first = self
            .next_seq
            .fetch_add(rows.events.len() as u64, Ordering::Relaxed);
        let mut args = MySqlArguments::default();
        for (i, e) in rows.events.iter().enumerate() {
            args.add(first + i as u64).expect("seq");
            for f in Field::ALL {
                match f.value(e) {
                    // A fresh id per row and iteration: ids are unique in the table.
                    FieldValue::Id(_) => args.add(uuid::Uuid::now_v7()),
                    FieldValue::Time(at) => args.add(at.naive_utc()),
                    FieldValue::Text(text) => args.add(text),
                    FieldValue::Ip(ip) => args.add(ip.map(|ip| match ip {
                        IpAddr::V4(v4) => v4.octets().to_vec(),
                        IpAddr::V6(v6) => v6.octets().to_vec(),
                    })),
                    FieldValue::Json(_) => args.add(rows.metadata[i].as_str()),
                }
                .expect("bind");
            }
            args.add(rows.hashes[i].as_bytes().as_slice())
                .expect("bind");
            args.add(rows.hashes[i].as_bytes().as_slice())
                .expect("bind");
        }
        let mut tx = self.pool.begin().await.expect("begin");
        query_with::<MySql, _>(AssertSqlSafe(self.sql.clone()), args)
            .execute(&mut *tx)
            .await
            .expect("raw insert");
        tx.commit().await.expect("commit");
    }
}

async fn store(url: &str, tag: &str) -> MySqlStore {
    let database = format!("bench_{tag}_{}", std::process::id());
    MySqlStore::connect_with(
        MySqlOptions::new(url)
            .database(&database)
            .expect("valid name"),
    )
    .await
    .expect("connect to MYSQL_URL")
}

/// Fills the library store and the raw table to `n` events, interleaved batch by batch so
/// both see the same machine; prints both rates.
async fn fill(library: &MySqlStore, raw: &Raw, n: usize) {
    let (mut lib_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    for k in 0..n / BATCH {
        let events = batch((k * BATCH) as u64, BATCH);
        let rows = RawRows::new(events.clone());
        let start = Instant::now();
        library.append(&events).await.expect("fill append");
        lib_time += start.elapsed();
        let start = Instant::now();
        raw.insert(&rows).await;
        raw_time += start.elapsed();
    }
    let rate = |t: Duration| n as f64 / t.as_secs_f64().max(1e-9);
    eprintln!(
        "mysql fill 0 -> {n}: library {:.0} events/s, raw {:.0} rows/s, ratio {:.2}",
        rate(lib_time),
        rate(raw_time),
        raw_time.as_secs_f64() / lib_time.as_secs_f64().max(1e-9)
    );
}

fn mysql(c: &mut Criterion) {
    let Ok(url) = std::env::var("MYSQL_URL") else {
        eprintln!(
            "mysql bench: MYSQL_URL is not set, nothing measured \
             (run `bash scripts/bench.sh -- --bench mysql`)"
        );
        return;
    };
    let n = env("AUDIT_BENCH_MYSQL_EVENTS", 1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (library, raw) = rt.block_on(async {
        let library = store(&url, "chain").await;
        let raw_store = store(&url, "raw").await;
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("raw pool");
        let table = format!("`{}`.`audit_events`", raw_store.database().expect("named"));
        raw_store.close().await;
        let raw = Raw::new(pool, &table);
        fill(&library, &raw, n).await;
        (library, raw)
    });

    let mut queries = c.benchmark_group("mysql_query_at_fill");
    queries.sample_size(30);
    let day = epoch() + chrono::Duration::days(100);
    let cases = [
        (
            "actor_newest_50",
            AuditQuery::new().actor("user-17").limit(50),
        ),
        (
            "entity_history",
            AuditQuery::new()
                .entity_type("booking")
                .entity_id("b-4242")
                .limit(50),
        ),
        (
            "cidr_16_newest_50",
            AuditQuery::new()
                .ip_in("10.7.0.0/16".parse().expect("cidr"))
                .limit(50),
        ),
    ];
    for (name, q) in cases {
        queries.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(library.query(&q).await.expect("query")) })
        });
    }
    let one_day = AuditQuery::new()
        .since(day)
        .until(day + chrono::Duration::days(1));
    queries.bench_function("count_by_action_one_day", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                library
                    .count_by(&one_day, CountBy::Action)
                    .await
                    .expect("count_by"),
            )
        })
    });
    queries.finish();

    let pool: Vec<Vec<AuditEvent>> = (0..20)
        .map(|k| batch((n + k * BATCH) as u64, BATCH))
        .collect();
    let raw_rows: Vec<RawRows> = pool.iter().map(|b| RawRows::new(b.clone())).collect();
    raw.next_seq
        .store(n as u64 + 1, std::sync::atomic::Ordering::Relaxed);

    let mut group = c.benchmark_group("mysql_persist");
    group.sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut i = 0usize;
    group.bench_function("raw_multi_row_insert", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let rows = &raw_rows[i % raw_rows.len()];
            let raw = &raw;
            async move { raw.insert(rows).await }
        })
    });
    let mut i = 0usize;
    group.bench_function("library_chain", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let events = fresh_ids(&pool[i % pool.len()]);
            let library = &library;
            async move { library.append(&events).await.expect("append") }
        })
    });
    group.throughput(Throughput::Elements(2 * BATCH as u64));
    let mut i = 0usize;
    group.bench_function("library_chain_2_writers", |b| {
        b.to_async(&rt).iter(|| {
            i += 2;
            let x = fresh_ids(&pool[i % pool.len()]);
            let y = fresh_ids(&pool[(i + 1) % pool.len()]);
            let store = &library;
            async move {
                let (a, b) = tokio::join!(store.append(&x), store.append(&y));
                a.expect("append");
                b.expect("append");
            }
        })
    });
    group.finish();

    rt.block_on(async {
        library.close().await;
        raw.pool.close().await;
    });
}

criterion_group!(benches, mysql);
criterion_main!(benches);

//! Issue 7, item 3: sustained persistence to PostgreSQL with the hash chain on (every batch
//! takes the multi-writer head lock, links, inserts and moves the head in one transaction),
//! beside raw binary `COPY` of the same rows into the same table with the same indexes and no
//! library (and without the trigger that refuses rows beyond the chain head), in the same run.
//!
//! Needs a server: `bash scripts/bench.sh -- --bench postgres` (starts one with fsync on), or
//! `DATABASE_URL=... cargo bench -p audit-benches --bench postgres`. Without `DATABASE_URL`
//! it prints a notice and measures nothing.
//!
//! Lines (throughput in events/s, 1000-event batches, each batch its own transaction):
//! - `raw_binary_copy`: `COPY ... FROM STDIN (FORMAT binary)` of pre-built rows — the floor.
//! - `library_chain_copy`: `PgStore::append`, the default insert mode.
//! - `library_chain_copy_no_tree`: `PgStore::append` into a log without a Merkle tree (the
//!   state a log that purged events before it had a tree keeps): what the tree rows cost.
//! - `library_chain_unnest`: the same with `InsertMode::Unnest`, to justify the default.
//! - `library_chain_copy_4_writers`: four writers appending at once through the head lock,
//!   each its own `PgStore` (its own pool and connections, as four processes would have).

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use audit_benches::fresh_ids;
use audit_core::chain::{ChainHash, ChainHasher};
use audit_core::{Actor, AuditEvent};
use audit_sqlx::sqlx_postgres::{PgPool, PgPoolOptions};
use audit_sqlx::{InsertMode, PgOptions, PgStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 1000;

fn sample(n: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .actor(Actor::user(format!("user-{}", i % 1000)))
                .entity("booking", format!("b-{i}"))
                .ip(IpAddr::from([10, 0, (i >> 8) as u8, i as u8]))
                .request_id(format!("req-{i:08}"))
                .user_agent("Mozilla/5.0 (X11; Linux x86_64) bench")
                .description("booking created for a fitness class")
                .metadata_entry("seats", i % 7)
                .build()
        })
        .collect()
}

/// A row as the raw path sends it: everything encoded up front except `seq`.
struct RawRow {
    event: AuditEvent,
    metadata: String,
    prev: ChainHash,
    hash: ChainHash,
}

fn raw_rows(events: &[AuditEvent]) -> Vec<RawRow> {
    let hasher = ChainHasher::sha256();
    let mut prev = ChainHash::ZERO;
    events
        .iter()
        .map(|e| {
            let hash = hasher.hash(&prev, e);
            let row = RawRow {
                event: e.clone(),
                metadata: e.metadata.to_string(),
                prev,
                hash,
            };
            prev = hash;
            row
        })
        .collect()
}

/// The binary COPY stream a hand-written loader would send (same columns as the library).
fn copy_bytes(rows: &[RawRow], first_seq: i64) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn text(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(s) => field(out, s.as_bytes()),
        }
    }
    let mut out = Vec::with_capacity(rows.len() * 420 + 21);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&[0; 8]);
    for (i, r) in rows.iter().enumerate() {
        let e = &r.event;
        out.extend_from_slice(&21i16.to_be_bytes());
        field(&mut out, &(first_seq + i as i64).to_be_bytes());
        // A fresh id per row and iteration: ids are unique in the table.
        field(&mut out, uuid::Uuid::now_v7().as_bytes());
        let pg_micros = e.occurred_at.timestamp_micros() - 946_684_800_000_000;
        field(&mut out, &pg_micros.to_be_bytes());
        text(&mut out, Some(&e.action));
        text(&mut out, Some(e.category.as_str()));
        text(&mut out, Some(e.outcome.as_str()));
        text(&mut out, e.reason.as_deref());
        text(&mut out, e.actor.as_ref().map(|a| a.kind.as_str()));
        text(&mut out, e.actor.as_ref().map(|a| a.id.as_str()));
        text(&mut out, e.entity_type.as_deref());
        text(&mut out, e.entity_id.as_deref());
        text(&mut out, e.description.as_deref());
        match e.ip {
            Some(IpAddr::V4(v4)) => {
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&[2, 32, 0, 4]);
                out.extend_from_slice(&v4.octets());
            }
            Some(IpAddr::V6(v6)) => {
                out.extend_from_slice(&20i32.to_be_bytes());
                out.extend_from_slice(&[3, 128, 0, 16]);
                out.extend_from_slice(&v6.octets());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        text(&mut out, e.user_agent.as_deref());
        text(&mut out, e.request_id.as_deref());
        text(&mut out, e.session_id.as_deref());
        text(&mut out, e.tenant.as_deref());
        text(&mut out, Some(e.severity.as_str()));
        out.extend_from_slice(&((r.metadata.len() + 1) as i32).to_be_bytes());
        out.push(1);
        out.extend_from_slice(r.metadata.as_bytes());
        field(&mut out, r.prev.as_bytes());
        field(&mut out, r.hash.as_bytes());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

async fn raw_copy(pool: &PgPool, sql: &str, bytes: Vec<u8>) {
    let mut tx = pool.begin().await.expect("begin");
    let mut copy = tx.copy_in_raw(sql).await.expect("COPY");
    copy.send(bytes).await.expect("COPY data");
    copy.finish().await.expect("COPY finish");
    tx.commit().await.expect("commit");
}

async fn store(url: &str, tag: &str, mode: InsertMode) -> PgStore {
    let schema = format!("bench_{tag}_{}", std::process::id());
    PgStore::connect_with(
        PgOptions::new(url)
            .schema(&schema)
            .expect("valid schema")
            .insert_mode(mode),
    )
    .await
    .expect("connect to DATABASE_URL")
}

/// Runs one setup statement of the bench's own making.
async fn setup(pool: &PgPool, sql: String) {
    sqlx_core::query::query::<audit_sqlx::sqlx_postgres::Postgres>(
        sqlx_core::sql_str::AssertSqlSafe(sql.clone()),
    )
    .execute(pool)
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Four handles on one schema, each with its own pool (the schema is created by the first).
async fn four_writers(url: &str) -> Vec<PgStore> {
    let first = store(url, "four", InsertMode::Copy).await;
    let schema = first.schema().as_str().to_owned();
    let mut writers = vec![first];
    for _ in 1..4 {
        let options = PgOptions::new(url).schema(&schema).expect("valid schema");
        writers.push(PgStore::connect_with(options).await.expect("connect"));
    }
    writers
}

fn persistence(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "postgres bench: DATABASE_URL is not set, nothing measured \
             (run `bash scripts/bench.sh -- --bench postgres`)"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let events = sample(20 * BATCH);
    let batches: Vec<&[AuditEvent]> = events.chunks(BATCH).collect();
    let rows = raw_rows(&events);
    let row_batches: Vec<&[RawRow]> = rows.chunks(BATCH).collect();

    let (raw_store, chain_copy, chain_no_tree, chain_unnest, chain_four, raw_pool) =
        rt.block_on(async {
            let raw_store = store(&url, "raw", InsertMode::Copy).await;
            let raw_pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("raw pool");
            // The raw loader moves no chain head, so the statement trigger that refuses rows
            // beyond the head (part of what the library pays) is dropped from its table.
            let schema = raw_store.schema();
            setup(
                &raw_pool,
                format!("DROP TRIGGER audit_events_within_head ON {schema}.audit_events"),
            )
            .await;
            let no_tree = store(&url, "notree", InsertMode::Copy).await;
            let schema = no_tree.schema();
            // A log without a tree: the state of one that purged events before it had one.
            setup(
                &raw_pool,
                format!("UPDATE {schema}.audit_chain_head SET tree_frontier = NULL"),
            )
            .await;
            (
                raw_store,
                store(&url, "copy", InsertMode::Copy).await,
                no_tree,
                store(&url, "unnest", InsertMode::Unnest).await,
                four_writers(&url).await,
                raw_pool,
            )
        });
    let raw_sql = format!(
        "COPY {}.audit_events (seq, id, occurred_at, action, category, outcome, reason, \
         actor_kind, actor_id, entity_type, entity_id, description, ip, user_agent, request_id, \
         session_id, tenant, severity, metadata, prev_hash, hash) FROM STDIN (FORMAT binary)",
        raw_store.schema()
    );

    let mut group = c.benchmark_group("postgres_persist");
    group.sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));

    let next_seq = AtomicI64::new(1);
    let mut i = 0usize;
    group.bench_function("raw_binary_copy", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let batch = row_batches[i % row_batches.len()];
            let first = next_seq.fetch_add(batch.len() as i64, Ordering::Relaxed);
            let bytes = copy_bytes(batch, first);
            let pool = &raw_pool;
            let sql = raw_sql.as_str();
            async move { raw_copy(pool, sql, bytes).await }
        })
    });

    for (name, store) in [
        ("library_chain_copy", &chain_copy),
        ("library_chain_copy_no_tree", &chain_no_tree),
        ("library_chain_unnest", &chain_unnest),
    ] {
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                i += 1;
                let batch = fresh_ids(batches[i % batches.len()]);
                async move { store.append(&batch).await.expect("append") }
            })
        });
    }

    group.throughput(Throughput::Elements(4 * BATCH as u64));
    let mut i = 0usize;
    group.bench_function("library_chain_copy_4_writers", |b| {
        b.to_async(&rt).iter(|| {
            i += 4;
            let batches: Vec<Vec<AuditEvent>> = (0..4)
                .map(|k| fresh_ids(batches[(i + k) % batches.len()]))
                .collect();
            let writers = &chain_four;
            async move {
                let (a, b, c, d) = tokio::join!(
                    writers[0].append(&batches[0]),
                    writers[1].append(&batches[1]),
                    writers[2].append(&batches[2]),
                    writers[3].append(&batches[3]),
                );
                for result in [a, b, c, d] {
                    result.expect("append");
                }
            }
        })
    });
    group.finish();

    rt.block_on(async {
        for s in [&raw_store, &chain_copy, &chain_unnest]
            .into_iter()
            .chain(&chain_four)
        {
            s.close().await;
        }
        raw_pool.close().await;
    });
}

criterion_group!(benches, persistence);
criterion_main!(benches);

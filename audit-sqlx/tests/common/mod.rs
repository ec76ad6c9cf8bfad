//! Helpers shared by the integration tests: a fresh schema per test on the real server.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use audit_core::chain::ChainHash;
use audit_core::query::{AuditQuery, Order};
use audit_core::{Actor, AuditEvent, AuditStore, Category, ChainHasher, Severity, StoredEvent};
use audit_sqlx::{PgOptions, PgStore};

/// The server URL, or `None` (with a loud message) when tests should skip.
/// With `CI` set, a missing `DATABASE_URL` fails the test instead.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "DATABASE_URL is not set and CI is: PostgreSQL tests must run in CI \
                     (use `scripts/pg.sh run -- cargo test -p audit-sqlx`)"
                );
            }
            eprintln!(
                "\n!!!!! SKIPPED: DATABASE_URL is not set, so this PostgreSQL test did not run.\n\
                 !!!!! Run `scripts/pg.sh run -- cargo test -p audit-sqlx` to test for real.\n"
            );
            None
        }
    }
}

/// Returns early from the test when there is no server (see [`database_url`]).
#[macro_export]
macro_rules! require_pg {
    () => {
        match $crate::common::database_url() {
            Some(url) => url,
            None => return,
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A schema name unique to this test run.
pub fn unique_schema(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t_{tag}_{}_{n}_{nanos:x}", std::process::id())
}

/// Options for a fresh schema.
pub fn options(url: &str, tag: &str) -> PgOptions {
    PgOptions::new(url)
        .schema(&unique_schema(tag))
        .expect("test schema names are valid")
}

/// A store on a fresh schema.
pub async fn fresh_store(url: &str, tag: &str) -> PgStore {
    PgStore::connect_with(options(url, tag))
        .await
        .expect("connect to the test server")
}

/// A varied event: actor, entity, ip, metadata depend on `i`.
pub fn event(i: usize) -> AuditEvent {
    let actors = ["alice", "bob", "carol"];
    let actions = [
        "FTMS_BOOKING_CREATED",
        "FTMS_BOOKING_CANCELLED",
        "AUTHN_LOGIN_OK",
    ];
    let ips = [
        "10.1.2.3",
        "10.200.0.9",
        "192.168.1.20",
        "2001:db8::7",
        "::ffff:10.9.9.9",
    ];
    let mut b = AuditEvent::builder(actions[i % actions.len()])
        .actor(Actor::user(actors[i % actors.len()]))
        .entity("booking", format!("b-{}", i % 7))
        .ip(ips[i % ips.len()].parse().expect("valid ip"))
        .request_id(format!("r-{i}"))
        .tenant(if i.is_multiple_of(2) {
            "acme"
        } else {
            "globex"
        })
        .description(format!("booking number {i} for seats"))
        .severity(if i.is_multiple_of(5) {
            Severity::Warning
        } else {
            Severity::Info
        })
        .category(if i % 3 == 2 {
            Category::Authentication
        } else {
            Category::Business
        })
        .metadata_entry("i", i)
        .metadata_entry("ratio", i as f64 / 8.0);
    if i % 4 == 3 {
        b = b.failure("no seats left");
    }
    b.build()
}

pub fn events(range: std::ops::Range<usize>) -> Vec<AuditEvent> {
    range.map(event).collect()
}

/// Every stored record, oldest first, through the store's public query API.
pub async fn all_records(store: &PgStore) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut q = AuditQuery::new().order(Order::OldestFirst).limit(1000);
    loop {
        let page = store.query(&q).await.expect("query");
        out.extend(page.events);
        match page.next {
            Some(cursor) => q = q.after(cursor),
            None => return out,
        }
    }
}

/// Checks the chain by recomputing it here (independent of the store's verifier): seqs are
/// 1..=n without gaps and every hash links to the previous one.
pub fn assert_chain_links(records: &[StoredEvent], hasher: &ChainHasher) {
    let mut prev = ChainHash::ZERO;
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "seq gap or reorder at index {i}");
        assert_eq!(
            r.prev_hash, prev,
            "prev_hash of seq {} does not link",
            r.seq
        );
        assert_eq!(
            r.hash,
            hasher.hash(&prev, &r.event),
            "hash of seq {} is wrong",
            r.seq
        );
        prev = r.hash;
    }
}

/// Runs SQL as the connecting (superuser) role, outside the library.
pub async fn exec(url: &str, sql: &str) -> Result<u64, sqlx_core::Error> {
    use sqlx_core::connection::Connection;
    use sqlx_core::executor::Executor;
    let mut conn = sqlx_postgres::PgConnection::connect(url).await?;
    let done = conn
        .execute(sqlx_core::raw_sql::raw_sql(
            sqlx_core::sql_str::AssertSqlSafe(sql.to_string()),
        ))
        .await?;
    Ok(done.rows_affected())
}

/// Runs `sql(events table)` with the store's append-only triggers off, as an attacker with
/// the table owner's rights could.
pub async fn tamper(url: &str, store: &audit_sqlx::PgStore, sql: impl FnOnce(&str) -> String) {
    let events = format!("{}.audit_events", store.schema());
    let statement = sql(&events);
    exec(
        url,
        &format!(
            "ALTER TABLE {events} DISABLE TRIGGER USER;
             {statement};
             ALTER TABLE {events} ENABLE TRIGGER USER;"
        ),
    )
    .await
    .expect("tampering with the events table");
}

//! Backend-neutral helpers of the integration tests: varied events, reading a whole store
//! back, an independent chain check, unique names.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use audit_core::chain::ChainHash;
use audit_core::query::{AuditQuery, Order};
use audit_core::{Actor, AuditEvent, AuditStore, Category, ChainHasher, Severity, StoredEvent};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lowercase name (schema, database) unique to this test run.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t_{tag}_{}_{n}_{nanos:x}", std::process::id())
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
pub async fn all_records(store: &impl AuditStore) -> Vec<StoredEvent> {
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

//! # audit-conformance
//!
//! A reusable test suite that every backend (an [`AuditSink`] plus its [`AuditStore`]) runs,
//! so all backends behave the same as the reference [`MemorySink`].
//!
//! Add it to your dev-dependencies, then hand [`run`] a factory that makes a fresh, **empty**
//! backend each time it is called:
//!
//! ```toml
//! [dev-dependencies]
//! audit-conformance = "0.1"
//! ```
//!
//! ```
//! use audit_conformance::{self as conformance, Backend};
//! use audit_core::sinks::MemorySink;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! conformance::run(|| async {
//!     let sink = MemorySink::new();
//!     // A custom backend passes its sink, its store, optionally a tamper hook, and anything
//!     // that must live as long as the backend (a temporary directory, a server handle).
//!     Backend::new(sink.clone(), sink.clone()).with_tamper(sink)
//! })
//! .await;
//! # });
//! ```
//!
//! What it checks: gap-free `seq` from 1 in write order, receipts that match what the store
//! returns, exact round-trip of every field, chain validity through [`AuditStore::verify`]
//! (whole chain, ranges, after an anchor, against checkpoints), every [`AuditQuery`] filter
//! against the brute-force reference [`AuditQuery::matches`] over a few hundred varied events,
//! keyset pagination in both orders, `count`, `count_by`, `head`, and — when the backend
//! offers a [`Tamper`] hook — detection of each kind of tampering with the right `seq`.
//!
//! Failures panic with a message naming the check, as a test suite should. Each check is
//! also a public function taking one fresh [`Backend`], to run or debug it alone.

#![deny(missing_docs)]

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use audit_core::chain::{ChainAnchor, ChainHash, Checkpoint, FaultKind, VerifyReport};
use audit_core::event::{Actor, AuditEvent, Category, Severity, StoredEvent, now_micros};
use audit_core::query::{AuditQuery, CountBy, MAX_PAGE_SIZE, Order};
use audit_core::sink::{AuditSink, BoxError, ChainPosition};
use audit_core::sinks::MemorySink;
use audit_core::store::{AuditStore, VerifyScope};

/// Hooks that change stored records behind the backend's back, the way an attacker with
/// write access to the database would. Implement it to let the suite check tamper detection.
///
/// Each method acts on a backend holding a valid chain written through its sink.
#[async_trait]
pub trait Tamper: Send + Sync {
    /// Changes the description of the record at `seq`, keeping its stored hashes (an
    /// `UPDATE` with the append-only triggers dropped).
    async fn modify_description(&self, seq: u64, description: &str) -> Result<(), BoxError>;

    /// Deletes the record at `seq` without renumbering the others.
    async fn delete(&self, seq: u64) -> Result<(), BoxError>;

    /// Exchanges the contents (event and hashes) of the records at `a` and `b`, each row
    /// keeping its `seq`.
    async fn swap(&self, a: u64, b: u64) -> Result<(), BoxError>;

    /// Deletes every record after `seq` (a truncated tail).
    async fn truncate_after(&self, seq: u64) -> Result<(), BoxError>;

    /// Inserts `event` as a forged record right after `after_seq`: `prev_hash` is that
    /// record's hash, `hash` is plain SHA-256 over it (what a writer without the HMAC key
    /// can compute, see [`ChainHasher::sha256`](audit_core::ChainHasher::sha256)), and every
    /// later record's `seq` goes up by one.
    ///
    /// Optional: the default reports it unsupported and the suite skips that check.
    async fn insert_forged(&self, after_seq: u64, event: &AuditEvent) -> Result<(), BoxError> {
        let _ = (after_seq, event);
        Err("insert_forged is not supported by this backend".into())
    }

    /// Whether [`insert_forged`](Self::insert_forged) is implemented.
    fn supports_insert(&self) -> bool {
        false
    }
}

/// One fresh, empty backend under test.
pub struct Backend {
    sink: Arc<dyn AuditSink>,
    store: Arc<dyn AuditStore>,
    tamper: Option<Arc<dyn Tamper>>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("tamper", &self.tamper.is_some())
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// A backend writing through `sink` and read through `store` (usually two handles on
    /// the same log).
    pub fn new(sink: impl AuditSink, store: impl AuditStore) -> Self {
        Self {
            sink: Arc::new(sink),
            store: Arc::new(store),
            tamper: None,
            _guard: None,
        }
    }

    /// Enables the tamper-detection checks.
    pub fn with_tamper(mut self, tamper: impl Tamper + 'static) -> Self {
        self.tamper = Some(Arc::new(tamper));
        self
    }

    /// Keeps `guard` (a temporary directory, a database handle) alive as long as the
    /// backend.
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }
}

/// Runs every check, each on a fresh backend from `factory`.
pub async fn run<F, Fut>(mut factory: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Backend>,
{
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {
            $(
                eprintln!("conformance: {}", stringify!($check));
                $check(factory().await).await;
            )*
        };
    }
    checks!(
        empty_store,
        write_order_and_receipts,
        chain_verifies,
        checkpoints,
        queries_match_reference,
        pagination,
        counts,
        tamper_modified,
        tamper_deleted,
        tamper_swapped,
        tamper_truncated,
        tamper_inserted,
    );
}

// ----- the data -----

/// How many events the data-driven checks write.
pub const SAMPLE_SIZE: usize = 300;

/// A small deterministic generator (xorshift64*), so every run writes the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The start of the sample data's time span.
pub fn sample_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// `n` varied events, the same for the same `seed`: several actors (and none), action codes
/// sharing prefixes (including `_`, which SQL `LIKE` treats as a wildcard), every category
/// and outcome, IPv4, IPv6 and IPv4-mapped IPv6 addresses, times spread over about two
/// weeks (not monotonic), descriptions with `%`, `_` and non-ASCII text, nested metadata.
pub fn sample_events(n: usize, seed: u64) -> Vec<AuditEvent> {
    const ACTIONS: &[(&str, Category)] = &[
        ("FTMS_BOOKING", Category::Business),
        ("FTMS_BOOKING_CREATED", Category::Business),
        ("FTMS_BOOKING_CANCELLED", Category::Business),
        ("FTMSXBOOKING_CREATED", Category::Business),
        ("FTMS_PAYMENT_CAPTURED", Category::Business),
        ("AUTHN_LOGIN_SUCCESS", Category::Authentication),
        ("AUTHN_LOGIN_FAIL", Category::Authentication),
        ("AUTHZ_DENIED", Category::Authorization),
        ("audit.archived", Category::System),
    ];
    const ACTORS: &[Option<&str>] = &[
        Some("alice"),
        Some("bob"),
        Some("carol"),
        Some("svc-billing"),
        Some("zoë"),
        None,
    ];
    const IPS: &[Option<&str>] = &[
        Some("10.0.0.5"),
        Some("10.1.2.3"),
        Some("192.168.1.20"),
        Some("203.0.113.9"),
        Some("2001:db8::1"),
        Some("2001:db8:0:1::42"),
        Some("::ffff:10.0.0.5"),
        Some("fe80::1"),
        None,
    ];
    const DESCRIPTIONS: &[Option<&str>] = &[
        Some("booked seat 12"),
        Some("cancelled booking: 100% refund"),
        Some("login_ok via SSO"),
        Some("Zoë paid €20"),
        Some("password reset requested"),
        Some(""),
        None,
    ];
    const TENANTS: &[Option<&str>] = &[Some("acme"), Some("globex"), None];

    let mut rng = Rng(seed | 1);
    let epoch = sample_epoch();
    (0..n)
        .map(|i| {
            let (action, category) = *rng.pick(ACTIONS);
            let minutes = (i as i64) * 67 + rng.below(600) as i64 - 300;
            let micros = rng.below(1_000_000) as i64;
            let occurred_at = epoch + Duration::minutes(minutes) + Duration::microseconds(micros);
            let mut id_bytes = [0u8; 10];
            id_bytes[..8].copy_from_slice(&rng.next().to_be_bytes());
            id_bytes[8..].copy_from_slice(&(i as u16).to_be_bytes());
            let millis = u64::try_from(occurred_at.timestamp_millis()).unwrap_or(0);
            let id = uuid::Builder::from_unix_timestamp_millis(millis, &id_bytes).into_uuid();

            let mut b = AuditEvent::builder(action)
                .id(id)
                .occurred_at(occurred_at)
                .category(category)
                .metadata(json!({
                    "i": i,
                    "nested": {"seats": rng.below(5), "tags": ["a", i % 3]},
                }));
            b = match rng.below(6) {
                0 => b.failure("timeout after 3 retries"),
                1 => b.denied("role viewer lacks booking:write"),
                _ => b.success(),
            };
            if let Some(actor) = rng.pick(ACTORS) {
                b = b.actor(if actor.starts_with("svc-") {
                    Actor::service(*actor)
                } else {
                    Actor::user(*actor)
                });
            }
            if rng.below(4) > 0 {
                let kind = if action.contains("PAYMENT") {
                    "payment"
                } else {
                    "booking"
                };
                b = b.entity(kind, format!("{}-{}", &kind[..1], rng.below(12)));
            }
            if let Some(ip) = rng.pick(IPS)
                && let Ok(ip) = ip.parse::<IpAddr>()
            {
                b = b.ip(ip);
            }
            if let Some(d) = rng.pick(DESCRIPTIONS) {
                b = b.description(*d);
            }
            if let Some(t) = rng.pick(TENANTS) {
                b = b.tenant(*t);
            }
            if rng.below(3) > 0 {
                b = b.request_id(format!("req-{}", i / 3));
            }
            if rng.below(2) > 0 {
                b = b
                    .session_id(format!("sess-{}", i % 7))
                    .user_agent("Mozilla/5.0 (X11)");
            }
            b = b.severity(*rng.pick(&[
                Severity::Info,
                Severity::Notice,
                Severity::Warning,
                Severity::Error,
                Severity::Critical,
            ]));
            b.build()
        })
        .collect()
}

/// The queries checked against the reference filter: each filter alone, edge values, and
/// combinations.
pub fn sample_queries() -> Vec<AuditQuery> {
    let epoch = sample_epoch();
    let net = |s: &str| s.parse().ok();
    let mut queries = vec![
        AuditQuery::new(),
        AuditQuery::new().actor("alice"),
        AuditQuery::new().actor("zoë"),
        AuditQuery::new().actor("nobody"),
        AuditQuery::new().action("FTMS_BOOKING"),
        AuditQuery::new().action("FTMS_BOOKING_CREATED"),
        AuditQuery::new().action_prefix("FTMS_BOOKING"),
        AuditQuery::new().action_prefix("FTMS_"),
        AuditQuery::new().action_prefix("AUTHN_"),
        AuditQuery::new().action_prefix("audit."),
        AuditQuery::new().action_prefix(""),
        AuditQuery::new().category(Category::Authentication),
        AuditQuery::new().category(Category::System),
        AuditQuery::new().outcome(audit_core::event::Outcome::Denied),
        AuditQuery::new().outcome(audit_core::event::Outcome::Failure),
        AuditQuery::new().entity_type("booking"),
        AuditQuery::new().entity_type("payment").entity_id("p-3"),
        AuditQuery::new().entity_id("b-1"),
        AuditQuery::new().since(epoch + Duration::days(3)),
        AuditQuery::new().until(epoch + Duration::days(2)),
        AuditQuery::new()
            .since(epoch + Duration::days(4) + Duration::microseconds(1))
            .until(epoch + Duration::days(9)),
        AuditQuery::new().request_id("req-12"),
        AuditQuery::new().tenant("acme"),
        AuditQuery::new().description_contains("100%"),
        AuditQuery::new().description_contains("login_"),
        AuditQuery::new().description_contains("_"),
        AuditQuery::new().description_contains("Zoë"),
        AuditQuery::new().description_contains("BOOKED"),
        AuditQuery::new()
            .actor("bob")
            .category(Category::Business)
            .since(epoch + Duration::days(1)),
        AuditQuery::new()
            .tenant("globex")
            .outcome(audit_core::event::Outcome::Success)
            .action_prefix("FTMS_BOOKING_"),
    ];
    for cidr in [
        "10.0.0.0/8",
        "10.0.0.5/32",
        "192.168.0.0/16",
        "2001:db8::/32",
        "2001:db8:0:1::/64",
        "::ffff:0:0/96",
        "0.0.0.0/0",
        "::/0",
    ] {
        if let Some(net) = net(cidr) {
            queries.push(AuditQuery::new().ip_in(net));
        }
    }
    queries
}

/// The records a store must hold after writing `events` with these receipts.
fn expected_records(events: &[AuditEvent], positions: &[ChainPosition]) -> Vec<StoredEvent> {
    let mut prev = ChainHash::ZERO;
    events
        .iter()
        .zip(positions)
        .map(|(event, pos)| {
            let record = StoredEvent {
                seq: pos.seq,
                prev_hash: prev,
                hash: pos.hash,
                event: event.clone(),
            };
            prev = pos.hash;
            record
        })
        .collect()
}

/// Writes `events` in batches of varied sizes and returns the receipts, in order.
async fn write_all(backend: &Backend, events: &[AuditEvent]) -> Vec<ChainPosition> {
    const SIZES: &[usize] = &[1, 2, 7, 50, 13, 1, 100, 3];
    let mut positions = Vec::with_capacity(events.len());
    let mut rest = events;
    let mut i = 0;
    while !rest.is_empty() {
        let (batch, tail) = rest.split_at(SIZES[i % SIZES.len()].min(rest.len()));
        let ack = match backend.sink.write(batch).await {
            Ok(ack) => ack,
            Err(err) => panic!(
                "conformance: writing a batch of {} failed: {err}",
                batch.len()
            ),
        };
        for j in 0..batch.len() {
            match ack.position(j) {
                Some(pos) => positions.push(pos),
                None => panic!(
                    "conformance: the ack of a batch of {} has no chain position for event {j}",
                    batch.len()
                ),
            }
        }
        rest = tail;
        i += 1;
    }
    positions
}

/// Writes the sample data and returns what the store must now hold.
async fn populate(backend: &Backend, n: usize) -> Vec<StoredEvent> {
    let events = sample_events(n, 0x5eed);
    let positions = write_all(backend, &events).await;
    expected_records(&events, &positions)
}

async fn verify(backend: &Backend, scope: VerifyScope, cp: Option<&Checkpoint>) -> VerifyReport {
    match backend.store.verify(scope, cp).await {
        Ok(report) => report,
        Err(err) => panic!("conformance: verify({scope:?}) failed: {err}"),
    }
}

#[track_caller]
fn assert_valid(report: &VerifyReport, what: &str) {
    if let Some(fault) = &report.fault {
        panic!("conformance: {what}: expected a valid chain, got {fault}");
    }
}

#[track_caller]
fn assert_fault(report: &VerifyReport, seq: u64, kind: FaultKind, what: &str) {
    match &report.fault {
        Some(f) if f.seq == seq && f.kind == kind => {}
        Some(f) => panic!("conformance: {what}: expected {kind:?} at seq {seq}, got {f}"),
        None => panic!("conformance: {what}: expected {kind:?} at seq {seq}, chain verified"),
    }
}

fn seqs(records: &[StoredEvent]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

// ----- the checks -----

/// An empty store: no head, a valid empty chain, empty queries, and an empty batch write
/// that commits nothing.
pub async fn empty_store(backend: Backend) {
    let store = &backend.store;
    assert_eq!(
        store.head().await.ok().flatten(),
        None,
        "conformance: an empty store has no head"
    );
    let report = verify(&backend, VerifyScope::All, None).await;
    assert_valid(&report, "empty store");
    assert_eq!(report.checked, 0, "conformance: empty store checked count");
    let page = store.query(&AuditQuery::new()).await;
    assert!(
        page.as_ref()
            .is_ok_and(|p| p.events.is_empty() && p.next.is_none()),
        "conformance: an empty store's query returns an empty last page, got {page:?}"
    );
    assert_eq!(store.count(&AuditQuery::new()).await.ok(), Some(0));
    assert!(store.get(1).await.ok().flatten().is_none());
    let ack = backend.sink.write(&[]).await;
    assert!(
        ack.as_ref().is_ok_and(|a| a.position(0).is_none()),
        "conformance: an empty batch commits nothing, got {ack:?}"
    );
    assert_eq!(store.head().await.ok().flatten(), None);
}

/// Gap-free `seq` from 1 in write order, receipts equal to what the store returns, every
/// field round-tripped exactly, and a head equal to the last receipt.
pub async fn write_order_and_receipts(backend: Backend) {
    let expected = populate(&backend, SAMPLE_SIZE).await;
    for (i, record) in expected.iter().enumerate() {
        assert_eq!(
            record.seq,
            i as u64 + 1,
            "conformance: receipts must number events 1, 2, 3… in write order"
        );
        let stored = match backend.store.get(record.seq).await {
            Ok(Some(stored)) => stored,
            other => panic!("conformance: get({}) returned {other:?}", record.seq),
        };
        assert_eq!(
            stored.hash, record.hash,
            "conformance: get({}).hash differs from the receipt",
            record.seq
        );
        assert_eq!(
            stored.prev_hash, record.prev_hash,
            "conformance: get({}).prev_hash is not the previous event's hash",
            record.seq
        );
        assert_eq!(
            stored.event, record.event,
            "conformance: event {} did not round-trip exactly",
            record.seq
        );
    }
    let last = SAMPLE_SIZE as u64;
    assert!(backend.store.get(last + 1).await.ok().flatten().is_none());
    assert!(backend.store.get(0).await.ok().flatten().is_none());
    let head = backend.store.head().await.ok().flatten();
    assert_eq!(
        head.map(|h| (h.seq, h.hash)),
        expected.last().map(|r| (r.seq, r.hash)),
        "conformance: head is the last written event"
    );
}

/// The chain verifies as a whole, by range, and after an anchor.
pub async fn chain_verifies(backend: Backend) {
    let expected = populate(&backend, SAMPLE_SIZE).await;
    let n = expected.len() as u64;
    let report = verify(&backend, VerifyScope::All, None).await;
    assert_valid(&report, "whole chain");
    assert_eq!(report.checked, n, "conformance: whole chain checked count");
    assert_eq!(
        report.head.map(|h| (h.seq, h.hash)),
        expected.last().map(|r| (r.seq, r.hash)),
        "conformance: verify's head is the last record"
    );
    for (from, to) in [(1, 1), (1, 10), (10, 20), (n - 5, n), (n, n)] {
        let report = verify(&backend, VerifyScope::Range { from, to }, None).await;
        assert_valid(&report, &format!("range {from}..={to}"));
        assert_eq!(
            report.checked,
            to - from + 1,
            "conformance: range {from}..={to} checked count"
        );
    }
    let at = &expected[99];
    let anchor = ChainAnchor {
        seq: at.seq,
        hash: at.hash,
    };
    let report = verify(&backend, VerifyScope::After(anchor), None).await;
    assert_valid(&report, "after seq 100");
    assert_eq!(report.checked, n - 100, "conformance: after-anchor count");
    let wrong = ChainAnchor {
        seq: at.seq,
        hash: expected[98].hash,
    };
    let report = verify(&backend, VerifyScope::After(wrong), None).await;
    assert!(
        !report.is_valid(),
        "conformance: verifying after an anchor with the wrong hash must fail"
    );
}

/// Checkpoints: one taken earlier (inside the chain now) and one at the head verify; one
/// with a wrong hash is a rewrite; one beyond the head is a truncation.
pub async fn checkpoints(backend: Backend) {
    let events = sample_events(120, 0xc0ffee);
    let first = write_all(&backend, &events[..60]).await;
    let early = match backend.store.head().await {
        Ok(Some(head)) => head,
        other => panic!("conformance: head after 60 events: {other:?}"),
    };
    assert_eq!(
        (early.seq, early.hash),
        (60, first[59].hash),
        "conformance: head after 60 events"
    );
    write_all(&backend, &events[60..]).await;
    let report = verify(&backend, VerifyScope::All, Some(&early)).await;
    assert_valid(&report, "checkpoint taken at seq 60, verified at 120");
    let head = backend.store.head().await.ok().flatten();
    let report = verify(&backend, VerifyScope::All, head.as_ref()).await;
    assert_valid(&report, "checkpoint at the head");

    let mut rewritten = early;
    rewritten.hash = first[58].hash;
    let report = verify(&backend, VerifyScope::All, Some(&rewritten)).await;
    assert_fault(
        &report,
        60,
        FaultKind::Modified,
        "checkpoint with another hash",
    );

    let beyond = Checkpoint {
        seq: 150,
        hash: ChainHash([1; 32]),
        taken_at: now_micros(),
    };
    let report = verify(&backend, VerifyScope::All, Some(&beyond)).await;
    assert_fault(
        &report,
        150,
        FaultKind::Truncated,
        "checkpoint beyond the head",
    );
}

/// Every sample query returns exactly the records [`AuditQuery::matches`] accepts, in both
/// orders (one page of the maximum size).
pub async fn queries_match_reference(backend: Backend) {
    let expected = populate(&backend, SAMPLE_SIZE).await;
    for query in sample_queries() {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let query = query.clone().order(order).limit(MAX_PAGE_SIZE);
            let mut want: Vec<u64> = expected
                .iter()
                .filter(|r| query.matches(r))
                .map(|r| r.seq)
                .collect();
            if order == Order::NewestFirst {
                want.reverse();
            }
            let page = match backend.store.query(&query).await {
                Ok(page) => page,
                Err(err) => panic!("conformance: query {query:?} failed: {err}"),
            };
            assert_eq!(
                seqs(&page.events),
                want,
                "conformance: query {query:?} differs from the reference filter"
            );
            assert!(
                page.next.is_none(),
                "conformance: a page holding every match has no next cursor ({query:?})"
            );
        }
    }
}

/// Keyset pagination in both orders and several page sizes: pages are full until the last,
/// without duplicates or gaps, and their concatenation is the reference result.
pub async fn pagination(backend: Backend) {
    let expected = populate(&backend, SAMPLE_SIZE).await;
    let queries = [
        AuditQuery::new(),
        AuditQuery::new().action_prefix("FTMS_BOOKING"),
        AuditQuery::new().actor("alice"),
        AuditQuery::new().ip_in("10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())),
    ];
    for query in queries {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            for size in [1, 7, 50, 299] {
                let query = query.clone().order(order).limit(size);
                let mut want: Vec<u64> = expected
                    .iter()
                    .filter(|r| query.matches(r))
                    .map(|r| r.seq)
                    .collect();
                if order == Order::NewestFirst {
                    want.reverse();
                }
                let mut got = Vec::new();
                let mut q = query.clone();
                for _ in 0..=want.len() + 1 {
                    let page = match backend.store.query(&q).await {
                        Ok(page) => page,
                        Err(err) => panic!("conformance: query {q:?} failed: {err}"),
                    };
                    assert!(
                        page.events.len() <= size as usize,
                        "conformance: a page is larger than its limit {size}"
                    );
                    got.extend(seqs(&page.events));
                    match page.next {
                        Some(cursor) => {
                            assert!(
                                q.cursor != Some(cursor),
                                "conformance: the cursor did not advance ({q:?})"
                            );
                            assert_eq!(
                                page.events.len(),
                                size as usize,
                                "conformance: a page before the last is full ({q:?})"
                            );
                            let text = cursor.to_string();
                            let parsed = text.parse().ok();
                            assert_eq!(parsed, Some(cursor), "cursor text round trip");
                            q = query.clone().after(cursor);
                        }
                        None => break,
                    }
                }
                assert_eq!(
                    got, want,
                    "conformance: pages of {size} ({order:?}) of {query:?} differ from the \
                     reference (duplicates, gaps or wrong order)"
                );
            }
        }
    }
}

/// `count` and `count_by` agree with the reference filter; both ignore the cursor.
pub async fn counts(backend: Backend) {
    let expected = populate(&backend, SAMPLE_SIZE).await;
    for query in sample_queries() {
        let want = expected.iter().filter(|r| query.matches(r)).count() as u64;
        let got = backend.store.count(&query).await.ok();
        assert_eq!(got, Some(want), "conformance: count of {query:?}");
        let with_cursor = query
            .clone()
            .after(audit_core::query::Cursor::after_seq(100));
        let got = backend.store.count(&with_cursor).await.ok();
        assert_eq!(got, Some(want), "conformance: count ignores the cursor");
    }
    let grouped_queries = [
        AuditQuery::new(),
        AuditQuery::new().category(Category::Business),
        AuditQuery::new().ip_in("2001:db8::/32".parse().unwrap_or_else(|_| unreachable!())),
    ];
    for query in grouped_queries {
        for by in CountBy::ALL {
            let mut want = BTreeMap::<String, u64>::new();
            for r in expected.iter().filter(|r| query.matches(r)) {
                *want.entry(by.key(r)).or_default() += 1;
            }
            let got = match backend.store.count_by(&query, by).await {
                Ok(groups) => groups,
                Err(err) => panic!("conformance: count_by({by:?}) failed: {err}"),
            };
            let got: Vec<(String, u64)> = got.into_iter().map(|g| (g.key, g.count)).collect();
            let want: Vec<(String, u64)> = want.into_iter().collect();
            assert_eq!(
                got, want,
                "conformance: count_by({by:?}) of {query:?} (sorted by key)"
            );
        }
    }
    // Outcome and category groups are keyed by the stored names, not by the store's own.
    for (by, names) in [
        (CountBy::Outcome, &["denied", "failure", "success"][..]),
        (
            CountBy::Category,
            &["authentication", "authorization", "business", "system"][..],
        ),
    ] {
        let groups = match backend.store.count_by(&AuditQuery::new(), by).await {
            Ok(groups) => groups,
            Err(err) => panic!("conformance: count_by({by:?}) failed: {err}"),
        };
        let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, names, "conformance: count_by({by:?}) keys");
    }
}

/// The backend's tamper hook, or `None` (and a note) when it has none.
fn tamper_hook(backend: &Backend, check: &str) -> Option<Arc<dyn Tamper>> {
    if backend.tamper.is_none() {
        eprintln!("conformance: {check} skipped: the backend has no Tamper hook");
    }
    backend.tamper.clone()
}

const TAMPER_SIZE: usize = 20;

#[track_caller]
fn tampered(result: Result<(), BoxError>, what: &str) {
    if let Err(err) = result {
        panic!("conformance: the tamper hook failed to {what}: {err}");
    }
}

/// A record edited behind the store's back is reported modified at its seq.
pub async fn tamper_modified(backend: Backend) {
    let Some(tamper) = tamper_hook(&backend, "tamper_modified") else {
        return;
    };
    populate(&backend, TAMPER_SIZE).await;
    tampered(
        tamper.modify_description(7, "nothing happened").await,
        "modify a description",
    );
    let report = verify(&backend, VerifyScope::All, None).await;
    assert_fault(&report, 7, FaultKind::Modified, "modified description");
    assert_eq!(
        report.checked, 6,
        "conformance: records verified before the fault"
    );
    let report = verify(&backend, VerifyScope::Range { from: 5, to: 10 }, None).await;
    assert_fault(&report, 7, FaultKind::Modified, "modified, range verify");
}

/// A deleted record is reported missing at its seq.
pub async fn tamper_deleted(backend: Backend) {
    let Some(tamper) = tamper_hook(&backend, "tamper_deleted") else {
        return;
    };
    populate(&backend, TAMPER_SIZE).await;
    tampered(tamper.delete(9).await, "delete a record");
    let report = verify(&backend, VerifyScope::All, None).await;
    assert_fault(&report, 9, FaultKind::Missing, "deleted record");
}

/// Swapped records are reported reordered at the first of them, adjacent or not.
pub async fn tamper_swapped(backend: Backend) {
    let Some(tamper) = tamper_hook(&backend, "tamper_swapped") else {
        return;
    };
    populate(&backend, TAMPER_SIZE).await;
    tampered(tamper.swap(5, 6).await, "swap two records");
    let report = verify(&backend, VerifyScope::All, None).await;
    assert_fault(&report, 5, FaultKind::Reordered, "adjacent swap");
    tampered(tamper.swap(5, 6).await, "swap two records back");
    assert_valid(
        &verify(&backend, VerifyScope::All, None).await,
        "swapped back",
    );
    tampered(tamper.swap(3, 15).await, "swap two distant records");
    let report = verify(&backend, VerifyScope::All, None).await;
    assert_fault(&report, 3, FaultKind::Reordered, "distant swap");
}

/// A truncated tail is reported against a checkpoint taken before.
pub async fn tamper_truncated(backend: Backend) {
    let Some(tamper) = tamper_hook(&backend, "tamper_truncated") else {
        return;
    };
    populate(&backend, TAMPER_SIZE).await;
    let head = match backend.store.head().await {
        Ok(Some(head)) => head,
        other => panic!("conformance: head: {other:?}"),
    };
    tampered(tamper.truncate_after(14).await, "truncate the tail");
    assert_valid(
        &verify(&backend, VerifyScope::All, None).await,
        "a truncated chain without checkpoint",
    );
    let report = verify(&backend, VerifyScope::All, Some(&head)).await;
    assert_fault(&report, head.seq, FaultKind::Truncated, "truncated tail");
}

/// A forged record inserted into the chain is reported inserted at its seq.
pub async fn tamper_inserted(backend: Backend) {
    let Some(tamper) = tamper_hook(&backend, "tamper_inserted") else {
        return;
    };
    if !tamper.supports_insert() {
        eprintln!("conformance: tamper_inserted skipped: insert_forged is not supported");
        return;
    }
    populate(&backend, TAMPER_SIZE).await;
    let forged = AuditEvent::builder("FTMS_BOOKING_CREATED")
        .actor(Actor::user("mallory"))
        .description("a booking that never happened")
        .build();
    tampered(tamper.insert_forged(10, &forged).await, "insert a record");
    let report = verify(&backend, VerifyScope::All, None).await;
    assert_fault(&report, 11, FaultKind::Inserted, "forged record");
}

#[async_trait]
impl Tamper for MemorySink {
    async fn modify_description(&self, seq: u64, description: &str) -> Result<(), BoxError> {
        found(self.tamper_modify(seq, |r| {
            r.event.description = Some(description.to_string());
        }))
    }

    async fn delete(&self, seq: u64) -> Result<(), BoxError> {
        found(self.tamper_delete(seq))
    }

    async fn swap(&self, a: u64, b: u64) -> Result<(), BoxError> {
        found(self.tamper_swap(a, b))
    }

    async fn truncate_after(&self, seq: u64) -> Result<(), BoxError> {
        self.tamper_truncate_after(seq);
        Ok(())
    }

    async fn insert_forged(&self, after_seq: u64, event: &AuditEvent) -> Result<(), BoxError> {
        found(self.tamper_insert(after_seq, event.clone()).is_some())
    }

    fn supports_insert(&self) -> bool {
        true
    }
}

fn found(ok: bool) -> Result<(), BoxError> {
    if ok {
        Ok(())
    } else {
        Err("no record with that seq".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_data_is_deterministic_and_valid() {
        let a = sample_events(50, 7);
        assert_eq!(a, sample_events(50, 7));
        assert_ne!(a, sample_events(50, 8));
        for event in &a {
            assert!(event.validate().is_ok(), "{event:?}");
        }
    }

    #[test]
    fn sample_queries_are_selective() {
        // A query matching nothing or everything would test little.
        let records: Vec<StoredEvent> = sample_events(SAMPLE_SIZE, 0x5eed)
            .into_iter()
            .enumerate()
            .map(|(i, event)| StoredEvent {
                seq: i as u64 + 1,
                prev_hash: ChainHash::ZERO,
                hash: ChainHash::ZERO,
                event,
            })
            .collect();
        let mut selective = 0;
        for query in sample_queries() {
            let n = records.iter().filter(|r| query.matches(r)).count();
            if n > 0 && n < records.len() {
                selective += 1;
            }
        }
        assert!(selective >= sample_queries().len() - 5, "{selective}");
    }
}

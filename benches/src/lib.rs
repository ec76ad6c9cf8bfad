//! Benchmarks live in `benches/`; this library holds what several of them share: the bench
//! workload (realistic events, the same for every backend so their figures compare).

use std::net::IpAddr;

use audit_core::{Actor, AuditEvent, Category, Outcome};
use chrono::{DateTime, TimeZone, Utc};

/// The action codes of the workload.
pub const ACTIONS: [&str; 10] = [
    "AUTHN_LOGIN_SUCCESS",
    "AUTHN_LOGIN_FAIL",
    "AUTHN_LOGOUT",
    "AUTHZ_DENIED",
    "FTMS_BOOKING_CREATED",
    "FTMS_BOOKING_CANCELLED",
    "FTMS_BOOKING_UPDATED",
    "FTMS_CLASS_CREATED",
    "FTMS_REFUND_ISSUED",
    "FTMS_PAYMENT_RECEIVED",
];

/// The number in environment variable `name`, or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// When the workload's first event happens.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// A cheap, well-spread hash of `i` (SplitMix64's finaliser).
pub fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 29)
}

/// The `i`-th bench event: 1 000 actors, 100 000 bookings, 10 actions, IPs across 10/8 and
/// some IPv6, a request id per three events, 30 s apart (1M events span about a year).
pub fn event(i: u64) -> AuditEvent {
    let h = mix(i);
    let action = ACTIONS[(h % ACTIONS.len() as u64) as usize];
    let ip: IpAddr = if h.is_multiple_of(10) {
        IpAddr::from([
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            (h >> 16) as u16,
            (h >> 32) as u16,
        ])
    } else {
        IpAddr::from([10, (h >> 8) as u8, (h >> 16) as u8, (h >> 24) as u8])
    };
    let mut b = AuditEvent::builder(action)
        .category(if action.starts_with("AUTHN") {
            Category::Authentication
        } else {
            Category::Business
        })
        .occurred_at(epoch() + chrono::Duration::seconds(i as i64 * 30))
        .actor(Actor::user(format!("user-{}", (h >> 20) % 1000)))
        .entity("booking", format!("b-{}", (h >> 40) % 100_000))
        .ip(ip)
        .request_id(format!("req-{:016x}", mix(i / 3)))
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) bench")
        .description("booking created for a fitness class")
        .metadata_entry("seats", i % 7);
    if h % 10 == 1 {
        b = b.outcome(Outcome::Failure, Some("no seats left".into()));
    }
    b.build()
}

/// Events `start .. start + size` of the workload.
pub fn batch(start: u64, size: usize) -> Vec<AuditEvent> {
    (start..start + size as u64).map(event).collect()
}

/// `events` with fresh ids: a store acknowledges an already stored id without storing it
/// again, so a bench that reuses ids would measure nothing. (Raw paths pay for new ids too.)
pub fn fresh_ids(events: &[AuditEvent]) -> Vec<AuditEvent> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.id = uuid::Uuid::now_v7();
            e
        })
        .collect()
}

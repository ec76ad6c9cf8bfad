//! The raw rusqlite floor shared by the SQLite benches: the library's rows inserted through
//! one prepared statement per batch transaction, with no library code in the way.

use std::net::IpAddr;

use audit_core::AuditEvent;
use rusqlite::Transaction;

const RAW_INSERT: &str = "INSERT INTO audit_events (seq, id, occurred_at, action, category, \
    outcome, reason, actor_kind, actor_id, entity_type, entity_id, description, ip, user_agent, \
    request_id, session_id, tenant, severity, metadata, prev_hash, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21)";

/// The library's IP encoding: a family byte, then the address bytes (they sort by network).
fn ip_key(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => [&[4u8][..], &v4.octets()].concat(),
        IpAddr::V6(v6) => [&[6u8][..], &v6.octets()].concat(),
    }
}

/// Inserts `events` as seqs `first_seq ..`; `hashes(k)` gives the k-th row's
/// `(prev_hash, hash)`.
pub fn insert_rows(
    tx: &Transaction<'_>,
    first_seq: u64,
    events: &[AuditEvent],
    mut hashes: impl FnMut(usize) -> ([u8; 32], [u8; 32]),
) {
    let mut stmt = tx.prepare(RAW_INSERT).expect("prepare");
    for (k, e) in events.iter().enumerate() {
        let actor = e.actor.as_ref();
        let (prev, hash) = hashes(k);
        stmt.execute(rusqlite::params![
            (first_seq + k as u64) as i64,
            &e.id.as_bytes()[..],
            e.occurred_at.timestamp_micros(),
            e.action.as_ref(),
            e.category.as_str(),
            e.outcome.as_str(),
            e.reason.as_deref(),
            actor.map(|a| a.kind.as_str()),
            actor.map(|a| a.id.as_str()),
            e.entity_type.as_deref(),
            e.entity_id.as_deref(),
            e.description.as_deref(),
            e.ip.map(ip_key),
            e.user_agent.as_deref(),
            e.request_id.as_deref(),
            e.session_id.as_deref(),
            e.tenant.as_deref(),
            e.severity.as_str(),
            e.metadata.to_string(),
            &prev[..],
            &hash[..],
        ])
        .expect("insert");
    }
}

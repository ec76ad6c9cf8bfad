//! Mapping between [`StoredEvent`] and a row of `audit_events`.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use audit_core::chain::ChainHash;
use audit_core::{Actor, AuditEvent, StoredEvent};
use chrono::DateTime;
use ipnet::IpNet;
use rusqlite::types::ToSqlOutput;
use rusqlite::{Row, Statement, ToSql};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The columns of `audit_events`, in the order [`decode`] reads and [`insert`] binds them.
pub(crate) const COLUMNS: &str = "seq, id, occurred_at, action, category, outcome, reason, \
    actor_kind, actor_id, entity_type, entity_id, description, ip, user_agent, request_id, \
    session_id, tenant, severity, metadata, prev_hash, hash";

/// The statement [`insert`] runs.
pub(crate) const INSERT_SQL: &str = "INSERT INTO audit_events (seq, id, occurred_at, action, \
    category, outcome, reason, actor_kind, actor_id, entity_type, entity_id, description, ip, \
    user_agent, request_id, session_id, tenant, severity, metadata, prev_hash, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21)";

const V4_TAG: u8 = 4;
const V6_TAG: u8 = 6;

/// An IP address as a sortable BLOB: a family tag byte, then the address bytes.
///
/// The tag keeps IPv4 and IPv6 in separate ranges (an IPv6 network never contains an IPv4
/// address, as in [`IpNet::contains`]), and within a family the bytes sort like the
/// addresses, so a CIDR filter is one index range scan.
pub(crate) fn ip_key(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => tagged(V4_TAG, &v4.octets()),
        IpAddr::V6(v6) => tagged(V6_TAG, &v6.octets()),
    }
}

/// The smallest and largest [`ip_key`] inside `net`.
pub(crate) fn ip_range(net: &IpNet) -> (Vec<u8>, Vec<u8>) {
    match net {
        IpNet::V4(n) => (
            tagged(V4_TAG, &n.network().octets()),
            tagged(V4_TAG, &n.broadcast().octets()),
        ),
        IpNet::V6(n) => (
            tagged(V6_TAG, &n.network().octets()),
            tagged(V6_TAG, &n.broadcast().octets()),
        ),
    }
}

fn tagged(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + bytes.len());
    key.push(tag);
    key.extend_from_slice(bytes);
    key
}

fn ip_from_key(key: &[u8]) -> Option<IpAddr> {
    match key.split_first() {
        Some((&V4_TAG, rest)) => <[u8; 4]>::try_from(rest)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        Some((&V6_TAG, rest)) => <[u8; 16]>::try_from(rest)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// Converts a seq to SQLite's signed integer.
pub(crate) fn seq_param(seq: u64) -> i64 {
    // A chain never reaches 2^63 events; saturating keeps comparisons correct regardless.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

struct Text<'a>(Option<&'a str>);

impl ToSql for Text<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

/// Inserts one event at `seq` with its hashes.
pub(crate) fn insert(
    stmt: &mut Statement<'_>,
    seq: u64,
    event: &AuditEvent,
    prev_hash: &ChainHash,
    hash: &ChainHash,
) -> Result<()> {
    let metadata = serde_json::to_string(&event.metadata)
        .map_err(|e| Error::InvalidRequest(format!("metadata cannot be serialized: {e}")))?;
    let ip = event.ip.map(ip_key);
    let actor = event.actor.as_ref();
    stmt.execute(rusqlite::params![
        seq_param(seq),
        &event.id.as_bytes()[..],
        event.occurred_at.timestamp_micros(),
        event.action.as_ref(),
        event.category.as_str(),
        event.outcome.as_str(),
        Text(event.reason.as_deref()),
        Text(actor.map(|a| a.kind.as_str())),
        Text(actor.map(|a| a.id.as_str())),
        Text(event.entity_type.as_deref()),
        Text(event.entity_id.as_deref()),
        Text(event.description.as_deref()),
        ip,
        Text(event.user_agent.as_deref()),
        Text(event.request_id.as_deref()),
        Text(event.session_id.as_deref()),
        Text(event.tenant.as_deref()),
        event.severity.as_str(),
        metadata,
        &prev_hash.as_bytes()[..],
        &hash.as_bytes()[..],
    ])?;
    Ok(())
}

/// Reads a row selected with [`COLUMNS`].
pub(crate) fn decode(row: &Row<'_>) -> Result<StoredEvent> {
    let raw_seq: i64 = row.get(0)?;
    let seq = u64::try_from(raw_seq).map_err(|_| Error::corrupt_record(0, "negative seq"))?;
    let bad = |what: &str| Error::corrupt_record(seq, what.to_owned());
    let sql = |e: rusqlite::Error| Error::corrupt_record(seq, e.to_string());
    let text = |i: usize| -> Result<Option<String>> { row.get(i).map_err(sql) };
    let required = |i: usize, name: &str| -> Result<String> {
        text(i)?.ok_or_else(|| bad(&format!("{name} is NULL")))
    };
    let parse = |i: usize, name: &str| -> Result<String> { required(i, name) };

    let id: Vec<u8> = row.get(1).map_err(sql)?;
    let id = Uuid::from_slice(&id).map_err(|_| bad("id is not 16 bytes"))?;
    let micros: i64 = row.get(2).map_err(sql)?;
    let occurred_at =
        DateTime::from_timestamp_micros(micros).ok_or_else(|| bad("occurred_at out of range"))?;
    let name_err = |e: audit_core::ValidationError| bad(&e.to_string());
    let actor = match (text(7)?, text(8)?) {
        (Some(kind), Some(id)) => Some(Actor {
            id,
            kind: kind.parse().map_err(name_err)?,
        }),
        (None, None) => None,
        _ => return Err(bad("actor kind and id must be both set or both NULL")),
    };
    let ip = match row.get::<_, Option<Vec<u8>>>(12).map_err(sql)? {
        None => None,
        Some(key) => Some(ip_from_key(&key).ok_or_else(|| bad("ip is not a valid address key"))?),
    };
    let metadata = serde_json::from_str(&required(18, "metadata")?)
        .map_err(|e| bad(&format!("metadata is not JSON: {e}")))?;
    let hash_at = |i: usize, name: &str| -> Result<ChainHash> {
        let bytes: Vec<u8> = row.get(i).map_err(sql)?;
        ChainHash::from_slice(&bytes).map_err(|_| bad(&format!("{name} is not 32 bytes")))
    };
    let event = AuditEvent {
        id,
        occurred_at,
        action: Cow::Owned(required(3, "action")?),
        category: parse(4, "category")?.parse().map_err(name_err)?,
        outcome: parse(5, "outcome")?.parse().map_err(name_err)?,
        reason: text(6)?,
        actor,
        entity_type: text(9)?.map(Cow::Owned),
        entity_id: text(10)?,
        description: text(11)?,
        ip,
        user_agent: text(13)?,
        request_id: text(14)?,
        session_id: text(15)?,
        tenant: text(16)?,
        severity: parse(17, "severity")?.parse().map_err(name_err)?,
        metadata,
    };
    Ok(StoredEvent {
        seq,
        prev_hash: hash_at(19, "prev_hash")?,
        hash: hash_at(20, "hash")?,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_keys_sort_inside_their_network_range() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap_or_else(|_| unreachable!());
        let (lo, hi) = ip_range(&net);
        for (ip, inside) in [
            ("10.1.0.0", true),
            ("10.1.255.255", true),
            ("10.1.7.9", true),
            ("10.2.0.0", false),
            ("10.0.255.255", false),
            ("::ffff:10.1.0.1", false),
        ] {
            let key = ip_key(ip.parse().unwrap_or_else(|_| unreachable!()));
            assert_eq!(key >= lo && key <= hi, inside, "{ip}");
        }
    }

    #[test]
    fn ip_keys_round_trip() {
        for ip in ["192.0.2.1", "2001:db8::1", "::ffff:1.2.3.4"] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|_| unreachable!());
            assert_eq!(ip_from_key(&ip_key(ip)), Some(ip));
        }
    }
}

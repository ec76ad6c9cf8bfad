//! The columns of the events table, in one order for every backend: the walk that writes a
//! chained event field by field (binary `COPY`, `UNNEST` arrays, multi-row `INSERT`
//! parameters) and the one that reads a row back into a [`StoredEvent`].

use std::net::IpAddr;

use audit_core::chain::ChainHash;
use audit_core::{Actor, AuditEvent, StoredEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::prepared::Chained;

/// The columns of the events table, in table order (writes and reads use this order).
pub(crate) const EVENT_COLUMNS: &str = "seq, id, occurred_at, action, category, outcome, reason, \
     actor_kind, actor_id, entity_type, entity_id, description, ip, user_agent, request_id, \
     session_id, tenant, severity, metadata, prev_hash, hash";

/// How many columns [`EVENT_COLUMNS`] names.
pub(crate) const EVENT_COLUMN_COUNT: usize = 21;

/// Receives one chained event's fields in [`EVENT_COLUMNS`] order. Category, outcome,
/// actor kind and severity arrive as their text names.
pub(crate) trait FieldSink {
    fn seq(&mut self, seq: u64);
    fn id(&mut self, id: &Uuid);
    fn time(&mut self, at: &DateTime<Utc>);
    fn text(&mut self, text: Option<&str>);
    fn ip(&mut self, ip: Option<IpAddr>);
    fn json(&mut self, json: &str);
    fn hash(&mut self, hash: &ChainHash);
}

/// Hands `row`'s fields to `sink` in [`EVENT_COLUMNS`] order.
pub(crate) fn write_fields(row: &Chained<'_>, sink: &mut impl FieldSink) {
    let e = &row.row.event;
    sink.seq(row.seq);
    sink.id(&e.id);
    sink.time(&e.occurred_at);
    sink.text(Some(&e.action));
    sink.text(Some(e.category.as_str()));
    sink.text(Some(e.outcome.as_str()));
    sink.text(e.reason.as_deref());
    sink.text(e.actor.as_ref().map(|a| a.kind.as_str()));
    sink.text(e.actor.as_ref().map(|a| a.id.as_str()));
    sink.text(e.entity_type.as_deref());
    sink.text(e.entity_id.as_deref());
    sink.text(e.description.as_deref());
    sink.ip(e.ip);
    sink.text(e.user_agent.as_deref());
    sink.text(e.request_id.as_deref());
    sink.text(e.session_id.as_deref());
    sink.text(e.tenant.as_deref());
    sink.text(Some(e.severity.as_str()));
    sink.json(&row.row.metadata_json);
    sink.hash(&row.prev_hash);
    sink.hash(&row.hash);
}

/// A row selected with [`EVENT_COLUMNS`], read column by column (by index in that order).
/// Each getter says in its error what could not be decoded.
pub(crate) trait FieldSource {
    fn seq(&self, i: usize) -> Result<u64, String>;
    fn id(&self, i: usize) -> Result<Uuid, String>;
    fn time(&self, i: usize) -> Result<DateTime<Utc>, String>;
    fn text(&self, i: usize) -> Result<Option<String>, String>;
    fn ip(&self, i: usize) -> Result<Option<IpAddr>, String>;
    fn json(&self, i: usize) -> Result<Value, String>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>, String>;
}

/// Decodes a row selected with [`EVENT_COLUMNS`]; a row that does not decode (altered outside
/// the library) is [`Error::Corrupt`] with its seq.
pub(crate) fn read_fields(row: &impl FieldSource) -> Result<StoredEvent> {
    let seq = row
        .seq(0)
        .map_err(|message| Error::Corrupt { seq: 0, message })?;
    let corrupt = |message: String| Error::Corrupt { seq, message };
    let text = |i: usize| row.text(i).map_err(corrupt);
    let need = |i: usize, name: &str| -> Result<String> {
        match text(i)? {
            Some(t) if !t.is_empty() => Ok(t),
            Some(_) => Err(corrupt(format!("{name} is empty"))),
            None => Err(corrupt(format!("{name} is NULL"))),
        }
    };
    let hash = |i: usize, name: &str| -> Result<ChainHash> {
        let bytes = row.bytes(i).map_err(corrupt)?;
        ChainHash::from_slice(&bytes).map_err(|err| corrupt(format!("{name}: {err}")))
    };
    let actor = match (text(7)?, text(8)?) {
        (Some(kind), Some(id)) => Some(Actor {
            id,
            kind: kind.parse().map_err(|err| corrupt(format!("{err}")))?,
        }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "actor kind and id must both be set or both NULL".into(),
            ));
        }
    };
    let event = AuditEvent {
        id: row.id(1).map_err(corrupt)?,
        occurred_at: row.time(2).map_err(corrupt)?,
        action: need(3, "action")?.into(),
        category: need(4, "category")?
            .parse()
            .map_err(|err| corrupt(format!("{err}")))?,
        outcome: need(5, "outcome")?
            .parse()
            .map_err(|err| corrupt(format!("{err}")))?,
        reason: text(6)?,
        actor,
        entity_type: text(9)?.map(Into::into),
        entity_id: text(10)?,
        description: text(11)?,
        ip: row.ip(12).map_err(corrupt)?,
        user_agent: text(13)?,
        request_id: text(14)?,
        session_id: text(15)?,
        tenant: text(16)?,
        severity: need(17, "severity")?
            .parse()
            .map_err(|err| corrupt(format!("{err}")))?,
        metadata: row.json(18).map_err(corrupt)?,
    };
    Ok(StoredEvent {
        seq,
        prev_hash: hash(19, "prev_hash")?,
        hash: hash(20, "hash")?,
        event,
    })
}

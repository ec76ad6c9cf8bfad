//! Decoding `audit_events` rows back into [`StoredEvent`]s.

use std::net::IpAddr;

use audit_core::chain::ChainHash;
use audit_core::{Actor, AuditEvent, StoredEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx_core::row::Row;
use sqlx_core::types::Json;
use sqlx_postgres::PgRow;
use uuid::Uuid;

use crate::error::{Error, Result};

/// Decodes a row selected with [`EVENT_COLUMNS`](crate::schema::EVENT_COLUMNS).
pub(crate) fn stored_event(row: &PgRow) -> Result<StoredEvent> {
    let seq_raw: i64 = row.try_get(0)?;
    let seq = u64::try_from(seq_raw).map_err(|_| Error::Corrupt {
        seq: 0,
        message: format!("negative seq {seq_raw}"),
    })?;
    let corrupt = |message: String| Error::Corrupt { seq, message };
    let get_text = |i: usize| -> Result<Option<String>> {
        row.try_get::<Option<String>, _>(i)
            .map_err(|err| corrupt(err.to_string()))
    };
    let need = |i: usize, name: &str| -> Result<String> {
        get_text(i)?.ok_or_else(|| corrupt(format!("{name} is NULL")))
    };
    let parse = |text: String, name: &str| -> Result<String> {
        if text.is_empty() {
            Err(corrupt(format!("{name} is empty")))
        } else {
            Ok(text)
        }
    };

    let id: Uuid = row.try_get(1).map_err(|err| corrupt(err.to_string()))?;
    let occurred_at: DateTime<Utc> = row.try_get(2).map_err(|err| corrupt(err.to_string()))?;
    let action = parse(need(3, "action")?, "action")?;
    let category = need(4, "category")?
        .parse()
        .map_err(|err| corrupt(format!("{err}")))?;
    let outcome = need(5, "outcome")?
        .parse()
        .map_err(|err| corrupt(format!("{err}")))?;
    let reason = get_text(6)?;
    let actor = match (get_text(7)?, get_text(8)?) {
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
    let ip: Option<IpAddr> = row.try_get(12).map_err(|err| corrupt(err.to_string()))?;
    let severity = need(17, "severity")?
        .parse()
        .map_err(|err| corrupt(format!("{err}")))?;
    let Json(metadata): Json<Value> = row.try_get(18).map_err(|err| corrupt(err.to_string()))?;
    let hash_col = |i: usize, name: &str| -> Result<ChainHash> {
        let bytes: Vec<u8> = row.try_get(i).map_err(|err| corrupt(err.to_string()))?;
        ChainHash::from_slice(&bytes).map_err(|err| corrupt(format!("{name}: {err}")))
    };
    let event = AuditEvent {
        id,
        occurred_at,
        action: action.into(),
        category,
        outcome,
        reason,
        actor,
        entity_type: get_text(9)?.map(Into::into),
        entity_id: get_text(10)?,
        description: get_text(11)?,
        ip,
        user_agent: get_text(13)?,
        request_id: get_text(14)?,
        session_id: get_text(15)?,
        tenant: get_text(16)?,
        severity,
        metadata,
    };
    Ok(StoredEvent {
        seq,
        prev_hash: hash_col(19, "prev_hash")?,
        hash: hash_col(20, "hash")?,
        event,
    })
}

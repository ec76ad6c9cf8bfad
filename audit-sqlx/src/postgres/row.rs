//! Decoding `audit_events` rows back into [`StoredEvent`]s.

use std::net::IpAddr;

use audit_core::StoredEvent;
use audit_core::chain::ChainHash;
use audit_core::fields::{self, Field, FieldReader};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx_core::row::Row;
use sqlx_core::types::Json;
use sqlx_postgres::PgRow;
use uuid::Uuid;

use crate::error::{Error, Result};

/// Reads the event's columns of a row selected with
/// [`event_columns`](super::schema::event_columns) (the first is `seq`).
struct RowFields<'r>(&'r PgRow);

impl RowFields<'_> {
    fn get<'r, T>(&'r self, field: Field) -> std::result::Result<T, String>
    where
        T: sqlx_core::decode::Decode<'r, sqlx_postgres::Postgres>
            + sqlx_core::types::Type<sqlx_postgres::Postgres>,
    {
        self.0
            .try_get(1 + field.index())
            .map_err(|err| err.to_string())
    }
}

impl FieldReader for RowFields<'_> {
    type Error = String;

    fn id(&mut self, field: Field) -> std::result::Result<Uuid, String> {
        self.get(field)
    }

    fn time(&mut self, field: Field) -> std::result::Result<DateTime<Utc>, String> {
        self.get(field)
    }

    fn text(&mut self, field: Field) -> std::result::Result<Option<String>, String> {
        self.get(field)
    }

    fn ip(&mut self, field: Field) -> std::result::Result<Option<IpAddr>, String> {
        self.get(field)
    }

    fn json(&mut self, field: Field) -> std::result::Result<Value, String> {
        self.get::<Json<Value>>(field).map(|Json(value)| value)
    }
}

/// Decodes a row selected with [`event_columns`](super::schema::event_columns).
pub(crate) fn stored_event(row: &PgRow) -> Result<StoredEvent> {
    let seq_raw: i64 = row.try_get(0)?;
    let seq = u64::try_from(seq_raw).map_err(|_| Error::Corrupt {
        seq: 0,
        message: format!("negative seq {seq_raw}"),
    })?;
    let corrupt = |message: String| Error::Corrupt { seq, message };
    let event = fields::read_event(&mut RowFields(row)).map_err(|err| corrupt(err.to_string()))?;
    let hash_col = |i: usize, name: &str| -> Result<ChainHash> {
        let bytes: Vec<u8> = row.try_get(i).map_err(|err| corrupt(err.to_string()))?;
        ChainHash::from_slice(&bytes).map_err(|err| corrupt(format!("{name}: {err}")))
    };
    let hashes_at = 1 + Field::ALL.len();
    Ok(StoredEvent {
        seq,
        prev_hash: hash_col(hashes_at, "prev_hash")?,
        hash: hash_col(hashes_at + 1, "hash")?,
        event,
    })
}

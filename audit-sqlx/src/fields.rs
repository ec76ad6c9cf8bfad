//! The events table's columns for every SQL backend: `seq`, the event's fields in the order
//! of the one field table ([`audit_core::fields`]), then the two hashes. The walk that writes
//! a chained event column by column (binary `COPY`, `UNNEST` arrays, multi-row `INSERT`
//! parameters) and the one that reads a row back into a [`StoredEvent`] live here, once.

use std::net::IpAddr;
use std::sync::LazyLock;

use audit_core::StoredEvent;
use audit_core::chain::ChainHash;
use audit_core::fields::{self, Field, FieldReader, FieldValue};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx_core::column::ColumnIndex;
use sqlx_core::database::Database;
use sqlx_core::decode::Decode;
use sqlx_core::row::Row;
use sqlx_core::types::Type;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::prepared::Chained;

/// The columns of the events table, in table order (writes and reads use this order).
pub(crate) fn event_columns() -> &'static str {
    static COLUMNS: LazyLock<String> =
        LazyLock::new(|| format!("seq, {}, prev_hash, hash", fields::column_list()));
    &COLUMNS
}

/// How many columns [`event_columns`] names.
pub(crate) const EVENT_COLUMN_COUNT: usize = Field::ALL.len() + 3;

/// Where the first hash column is in [`event_columns`] (`prev_hash`; `hash` follows).
const HASHES_AT: usize = 1 + Field::ALL.len();

/// The position of `field` in [`event_columns`].
pub(crate) const fn column_of(field: Field) -> usize {
    1 + field.index()
}

/// Receives one chained event's columns in [`event_columns`] order. Category, outcome, actor
/// kind and severity arrive as their text names; the metadata as the JSON text the store
/// hashed (already in the form the database gives back).
pub(crate) trait ColumnSink {
    fn seq(&mut self, seq: u64);
    fn id(&mut self, id: &Uuid);
    fn time(&mut self, at: &DateTime<Utc>);
    fn text(&mut self, text: Option<&str>);
    fn ip(&mut self, ip: Option<IpAddr>);
    fn json(&mut self, json: &str);
    fn hash(&mut self, hash: &ChainHash);
}

/// Hands `row`'s columns to `sink` in [`event_columns`] order.
pub(crate) fn write_columns(row: &Chained<'_>, sink: &mut impl ColumnSink) {
    sink.seq(row.seq);
    for field in Field::ALL {
        match field.value(&row.row.event) {
            FieldValue::Id(id) => sink.id(id),
            FieldValue::Time(at) => sink.time(&at),
            FieldValue::Text(text) => sink.text(text),
            FieldValue::Ip(ip) => sink.ip(ip),
            FieldValue::Json(_) => sink.json(&row.row.metadata_json),
        }
    }
    sink.hash(&row.prev_hash);
    sink.hash(&row.hash);
}

/// What a backend decodes its own way from a row selected with [`event_columns`]: the
/// integer type of `seq`, how it stores IPs and JSON. The rest is decoded here, once.
pub(crate) trait RowCodec: Row {
    fn seq_at(&self, column: usize) -> Result<u64, String>;
    fn ip_at(&self, column: usize) -> Result<Option<IpAddr>, String>;
    fn json_at(&self, column: usize) -> Result<Value, String>;
}

/// The types every backend decodes the same way.
pub(crate) trait PlainColumns<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> {}

impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> PlainColumns<DB> for T {}

/// Reads `row`'s column `i` as a `T`, the error as text.
pub(crate) fn column<R, T>(row: &R, i: usize) -> Result<T, String>
where
    R: Row,
    T: PlainColumns<R::Database>,
    usize: ColumnIndex<R>,
{
    row.try_get(i).map_err(|err| err.to_string())
}

/// A row's event fields, through the one field table's [`FieldReader`].
struct Columns<'r, R>(&'r R);

impl<R> FieldReader for Columns<'_, R>
where
    R: RowCodec,
    usize: ColumnIndex<R>,
    Uuid: PlainColumns<R::Database>,
    DateTime<Utc>: PlainColumns<R::Database>,
    Option<String>: PlainColumns<R::Database>,
{
    type Error = String;

    fn id(&mut self, field: Field) -> Result<Uuid, String> {
        column(self.0, column_of(field))
    }

    fn time(&mut self, field: Field) -> Result<DateTime<Utc>, String> {
        column(self.0, column_of(field))
    }

    fn text(&mut self, field: Field) -> Result<Option<String>, String> {
        column(self.0, column_of(field))
    }

    fn ip(&mut self, field: Field) -> Result<Option<IpAddr>, String> {
        self.0.ip_at(column_of(field))
    }

    fn json(&mut self, field: Field) -> Result<Value, String> {
        self.0.json_at(column_of(field))
    }
}

/// Decodes a row selected with [`event_columns`]; a row that does not decode (altered outside
/// the library) is [`Error::Corrupt`] with its seq.
pub(crate) fn read_row<R>(row: &R) -> Result<StoredEvent>
where
    R: RowCodec,
    usize: ColumnIndex<R>,
    Uuid: PlainColumns<R::Database>,
    DateTime<Utc>: PlainColumns<R::Database>,
    Option<String>: PlainColumns<R::Database>,
    Vec<u8>: PlainColumns<R::Database>,
{
    let seq = row
        .seq_at(0)
        .map_err(|message| Error::Corrupt { seq: 0, message })?;
    let corrupt = |message: String| Error::Corrupt { seq, message };
    let event = fields::read_event(&mut Columns(row)).map_err(|err| corrupt(err.to_string()))?;
    let hash = |i: usize, name: &str| -> Result<ChainHash> {
        let bytes: Vec<u8> = column(row, i).map_err(corrupt)?;
        ChainHash::from_slice(&bytes).map_err(|err| corrupt(format!("{name}: {err}")))
    };
    Ok(StoredEvent {
        seq,
        prev_hash: hash(HASHES_AT, "prev_hash")?,
        hash: hash(HASHES_AT + 1, "hash")?,
        event,
    })
}

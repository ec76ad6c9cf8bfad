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

/// A backend's row selected with [`event_columns`]: its event fields through
/// [`FieldReader`] (by [`column_of`]), and the chain's own columns by index.
pub(crate) trait ChainRow: FieldReader<Error = String> {
    fn seq(&self) -> Result<u64, String>;
    fn bytes(&self, column: usize) -> Result<Vec<u8>, String>;
}

/// Decodes a row selected with [`event_columns`]; a row that does not decode (altered outside
/// the library) is [`Error::Corrupt`] with its seq.
pub(crate) fn read_row(mut row: impl ChainRow) -> Result<StoredEvent> {
    let seq = row
        .seq()
        .map_err(|message| Error::Corrupt { seq: 0, message })?;
    let corrupt = |message: String| Error::Corrupt { seq, message };
    let event = fields::read_event(&mut row).map_err(|err| corrupt(err.to_string()))?;
    let hash = |i: usize, name: &str| -> Result<ChainHash> {
        let bytes = row.bytes(i).map_err(corrupt)?;
        ChainHash::from_slice(&bytes).map_err(|err| corrupt(format!("{name}: {err}")))
    };
    Ok(StoredEvent {
        seq,
        prev_hash: hash(HASHES_AT, "prev_hash")?,
        hash: hash(HASHES_AT + 1, "hash")?,
        event,
    })
}

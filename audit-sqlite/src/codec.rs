//! Mapping between [`StoredEvent`] and a row of `audit_events`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use audit_core::chain::{ChainHash, ReadRecord};
use audit_core::fields::{self, Field, FieldReader, FieldValue};
use audit_core::{AuditEvent, StoredEvent};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use rusqlite::types::{FromSql, FromSqlError, ToSqlOutput, ValueRef};
use rusqlite::{Row, Statement, ToSql};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};

/// The columns of `audit_events`, in the order [`decode`] reads and [`insert`] binds them:
/// `seq`, every [`Field`], then the two hashes.
pub(crate) fn columns() -> &'static str {
    static COLUMNS: LazyLock<String> =
        LazyLock::new(|| format!("seq, {}, prev_hash, hash", fields::column_list()));
    &COLUMNS
}

/// The statement [`insert`] runs.
pub(crate) fn insert_sql() -> &'static str {
    static INSERT: LazyLock<String> = LazyLock::new(|| {
        let params: Vec<String> = (1..=Field::ALL.len() + 3)
            .map(|i| format!("?{i}"))
            .collect();
        format!(
            "INSERT INTO audit_events ({}) VALUES ({})",
            columns(),
            params.join(", ")
        )
    });
    &INSERT
}

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

/// One bound value of an [`insert`].
enum Cell<'a> {
    Integer(i64),
    Blob(&'a [u8]),
    OwnedBlob(Vec<u8>),
    Text(Option<&'a str>),
}

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Cell::Integer(n) => n.to_sql(),
            Cell::Blob(bytes) => bytes.to_sql(),
            Cell::OwnedBlob(bytes) => bytes.to_sql(),
            Cell::Text(text) => text.to_sql(),
        }
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
    let mut cells = Vec::with_capacity(Field::ALL.len() + 3);
    cells.push(Cell::Integer(seq_param(seq)));
    for field in Field::ALL {
        cells.push(match field.value(event) {
            FieldValue::Id(id) => Cell::Blob(id.as_bytes()),
            FieldValue::Time(at) => Cell::Integer(at.timestamp_micros()),
            FieldValue::Text(text) => Cell::Text(text),
            FieldValue::Ip(ip) => ip.map_or(Cell::Text(None), |ip| Cell::OwnedBlob(ip_key(ip))),
            FieldValue::Json(_) => Cell::Text(Some(&metadata)),
        });
    }
    cells.push(Cell::Blob(&prev_hash.as_bytes()[..]));
    cells.push(Cell::Blob(&hash.as_bytes()[..]));
    stmt.execute(rusqlite::params_from_iter(cells))?;
    Ok(())
}

/// How many columns [`columns`] selects.
pub(crate) const COLUMN_COUNT: usize = Field::ALL.len() + 3;

/// The name of column `idx` of [`columns`], as SQLite reports it.
fn column_name(idx: usize) -> &'static str {
    static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| columns().split(", ").collect());
    NAMES.get(idx).copied().unwrap_or("?")
}

/// A row selected with [`columns`]: a live [`Row`], or a [`CopiedRow`] copied out of one to
/// be decoded on another thread. Both convert values the same way (that of [`Row::get`]), so
/// a row decodes, or fails to, with the same words either way.
pub(crate) trait Columns {
    /// The value of column `idx`.
    fn value(&self, idx: usize) -> rusqlite::Result<ValueRef<'_>>;

    /// Column `idx` converted to `T`.
    fn get<T: FromSql>(&self, idx: usize) -> rusqlite::Result<T> {
        let value = self.value(idx)?;
        T::column_result(value).map_err(|err| match err {
            FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
                idx,
                column_name(idx).to_owned(),
                value.data_type(),
            ),
            FromSqlError::OutOfRange(i) => rusqlite::Error::IntegralValueOutOfRange(idx, i),
            FromSqlError::Utf8Error(err) => rusqlite::Error::Utf8Error(idx, err),
            FromSqlError::Other(err) => {
                rusqlite::Error::FromSqlConversionFailure(idx, value.data_type(), err)
            }
            other => {
                rusqlite::Error::FromSqlConversionFailure(idx, value.data_type(), Box::new(other))
            }
        })
    }
}

impl Columns for Row<'_> {
    fn value(&self, idx: usize) -> rusqlite::Result<ValueRef<'_>> {
        self.get_ref(idx)
    }
}

/// One value of a [`RowChunk`]; text and blobs are ranges of its buffer.
#[derive(Debug, Clone, Copy)]
enum CopiedValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(usize, usize),
    Blob(usize, usize),
}

/// Rows of [`columns`] copied out of SQLite into one buffer, so that they can be decoded on
/// another thread while the statement steps on (one allocation for many rows, not one per
/// row: the copying thread is the one that bounds a parallel verification).
#[derive(Debug, Default)]
pub(crate) struct RowChunk {
    bytes: Vec<u8>,
    values: Vec<CopiedValue>,
}

impl RowChunk {
    /// An empty chunk with room for about `rows` rows.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(rows * 384),
            values: Vec::with_capacity(rows * COLUMN_COUNT),
        }
    }

    /// Copies `row` to the end of the chunk.
    pub(crate) fn push(&mut self, row: &Row<'_>) -> rusqlite::Result<()> {
        for idx in 0..COLUMN_COUNT {
            let mut keep = |data: &[u8]| {
                self.bytes.extend_from_slice(data);
                (self.bytes.len() - data.len(), self.bytes.len())
            };
            let value = match row.get_ref(idx)? {
                ValueRef::Null => CopiedValue::Null,
                ValueRef::Integer(n) => CopiedValue::Integer(n),
                ValueRef::Real(x) => CopiedValue::Real(x),
                ValueRef::Text(text) => {
                    let (from, to) = keep(text);
                    CopiedValue::Text(from, to)
                }
                ValueRef::Blob(blob) => {
                    let (from, to) = keep(blob);
                    CopiedValue::Blob(from, to)
                }
            };
            self.values.push(value);
        }
        Ok(())
    }

    /// How many rows the chunk holds.
    pub(crate) fn len(&self) -> usize {
        self.values.len() / COLUMN_COUNT
    }

    /// Row `i` of the chunk.
    pub(crate) fn row(&self, i: usize) -> CopiedRow<'_> {
        CopiedRow {
            chunk: self,
            first: i * COLUMN_COUNT,
        }
    }
}

/// One row of a [`RowChunk`].
pub(crate) struct CopiedRow<'c> {
    chunk: &'c RowChunk,
    first: usize,
}

impl Columns for CopiedRow<'_> {
    fn value(&self, idx: usize) -> rusqlite::Result<ValueRef<'_>> {
        let value = (idx < COLUMN_COUNT)
            .then(|| self.chunk.values.get(self.first + idx))
            .flatten()
            .ok_or_else(|| rusqlite::Error::InvalidColumnIndex(idx))?;
        let bytes = &self.chunk.bytes;
        Ok(match *value {
            CopiedValue::Null => ValueRef::Null,
            CopiedValue::Integer(n) => ValueRef::Integer(n),
            CopiedValue::Real(x) => ValueRef::Real(x),
            CopiedValue::Text(from, to) => ValueRef::Text(&bytes[from..to]),
            CopiedValue::Blob(from, to) => ValueRef::Blob(&bytes[from..to]),
        })
    }
}

/// Reads the event's columns of a row selected with [`columns`] (the first is `seq`).
struct RowFields<'r, C> {
    row: &'r C,
}

impl<C: Columns> RowFields<'_, C> {
    fn get<T: FromSql>(&self, field: Field) -> rusqlite::Result<T> {
        self.row.get(1 + field.index())
    }
}

impl<C: Columns> FieldReader for RowFields<'_, C> {
    type Error = String;

    fn id(&mut self, field: Field) -> std::result::Result<Uuid, String> {
        let bytes: Vec<u8> = self.get(field).map_err(|e| e.to_string())?;
        Uuid::from_slice(&bytes).map_err(|_| "is not 16 bytes".to_owned())
    }

    fn time(&mut self, field: Field) -> std::result::Result<DateTime<Utc>, String> {
        let micros: i64 = self.get(field).map_err(|e| e.to_string())?;
        DateTime::from_timestamp_micros(micros).ok_or_else(|| "is out of range".to_owned())
    }

    fn text(&mut self, field: Field) -> std::result::Result<Option<String>, String> {
        self.get(field).map_err(|e| e.to_string())
    }

    fn ip(&mut self, field: Field) -> std::result::Result<Option<IpAddr>, String> {
        match self
            .get::<Option<Vec<u8>>>(field)
            .map_err(|e| e.to_string())?
        {
            None => Ok(None),
            Some(key) => ip_from_key(&key)
                .map(Some)
                .ok_or_else(|| "is not a valid address key".to_owned()),
        }
    }

    fn json(&mut self, field: Field) -> std::result::Result<Value, String> {
        let text: Option<String> = self.get(field).map_err(|e| e.to_string())?;
        let text = text.ok_or_else(|| "is NULL".to_owned())?;
        serde_json::from_str(&text).map_err(|e| format!("is not JSON: {e}"))
    }
}

/// Reads a row selected with [`columns`].
pub(crate) fn decode(row: &impl Columns) -> Result<StoredEvent> {
    let raw_seq: i64 = row.get(0)?;
    let seq = u64::try_from(raw_seq).map_err(|_| Error::corrupt_record(0, "negative seq"))?;
    let bad = |what: String| Error::corrupt_record(seq, what);
    let event = fields::read_event(&mut RowFields { row }).map_err(|e| bad(e.to_string()))?;
    let hash_at = |i: usize, name: &str| -> Result<ChainHash> {
        let bytes: Vec<u8> = row.get(i).map_err(|e| bad(e.to_string()))?;
        ChainHash::from_slice(&bytes).map_err(|_| bad(format!("{name} is not 32 bytes")))
    };
    let hashes_at = 1 + Field::ALL.len();
    Ok(StoredEvent {
        seq,
        prev_hash: hash_at(hashes_at, "prev_hash")?,
        hash: hash_at(hashes_at + 1, "hash")?,
        event,
    })
}

/// A decoded row as verification reads it: a row that no longer decodes was changed behind
/// the store's back and is named at its own seq (not as a truncation at a checkpoint beyond
/// it). Any other error is the store's.
pub(crate) fn read_record(decoded: Result<StoredEvent>) -> Result<ReadRecord> {
    match decoded {
        Ok(record) => Ok(ReadRecord::Decoded(record)),
        Err(Error::CorruptRecord { seq, message }) => Ok(ReadRecord::Undecodable {
            seq,
            detail: message,
        }),
        Err(other) => Err(other),
    }
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

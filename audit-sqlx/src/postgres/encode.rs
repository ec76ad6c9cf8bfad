//! Turning events into PostgreSQL rows: what the columns accept, and the binary `COPY` stream.

use std::net::IpAddr;

use audit_core::chain::ChainHash;
use audit_core::tlog::TreeRow;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::fields::{ColumnSink, EVENT_COLUMN_COUNT, write_columns};
use crate::metadata::NumberForm;
use crate::prepared::{Chained, StorageRules};

/// `jsonb` prints numbers as `numeric` (no exponent, no negative zero).
pub(crate) const PG_RULES: StorageRules = StorageRules {
    numbers: NumberForm::PgNumeric,
    time_range: None,
};

const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// The binary `COPY` stream for `rows` (header, tuples, trailer), in
/// [`event_columns`](crate::fields::event_columns) order.
pub(crate) fn copy_binary(rows: &[Chained<'_>]) -> Vec<u8> {
    copy_stream(rows, EVENT_COLUMN_COUNT as i16, 420, |r, tuple| {
        write_columns(r, tuple)
    })
}

/// The binary `COPY` stream of the Merkle tree's stored-hash rows (`seq`, `hashes`).
pub(crate) fn copy_tree_rows(rows: &[TreeRow]) -> Vec<u8> {
    copy_stream(rows, 2, 50, |row, tuple| {
        tuple.seq(row.seq);
        tuple.field(&row.to_bytes());
    })
}

/// `COPY ... FROM STDIN (FORMAT binary)` data: the header, one tuple of `fields` fields per
/// row written by `write`, the trailer.
fn copy_stream<T>(
    rows: &[T],
    fields: i16,
    bytes_per_row: usize,
    mut write: impl FnMut(&T, &mut CopyTuple<'_>),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + rows.len() * bytes_per_row + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    let mut tuple = CopyTuple(&mut out);
    for row in rows {
        tuple.0.extend_from_slice(&fields.to_be_bytes());
        write(row, &mut tuple);
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// Writes fields in `COPY`'s binary tuple format.
struct CopyTuple<'a>(&'a mut Vec<u8>);

impl CopyTuple<'_> {
    fn field(&mut self, bytes: &[u8]) {
        self.0
            .extend_from_slice(&len_i32(bytes.len()).to_be_bytes());
        self.0.extend_from_slice(bytes);
    }

    fn null(&mut self) {
        self.0.extend_from_slice(&(-1i32).to_be_bytes());
    }
}

impl ColumnSink for CopyTuple<'_> {
    fn seq(&mut self, seq: u64) {
        self.field(&(seq as i64).to_be_bytes());
    }

    fn id(&mut self, id: &Uuid) {
        self.field(id.as_bytes());
    }

    fn time(&mut self, at: &DateTime<Utc>) {
        self.field(&(at.timestamp_micros() - PG_EPOCH_OFFSET_MICROS).to_be_bytes());
    }

    fn text(&mut self, text: Option<&str>) {
        match text {
            None => self.null(),
            Some(s) => self.field(s.as_bytes()),
        }
    }

    fn ip(&mut self, ip: Option<IpAddr>) {
        match ip {
            None => self.null(),
            Some(IpAddr::V4(v4)) => {
                self.0.extend_from_slice(&8i32.to_be_bytes());
                self.0.extend_from_slice(&[2, 32, 0, 4]);
                self.0.extend_from_slice(&v4.octets());
            }
            Some(IpAddr::V6(v6)) => {
                self.0.extend_from_slice(&20i32.to_be_bytes());
                self.0.extend_from_slice(&[3, 128, 0, 16]);
                self.0.extend_from_slice(&v6.octets());
            }
        }
    }

    fn json(&mut self, json: &str) {
        self.0
            .extend_from_slice(&len_i32(json.len() + 1).to_be_bytes());
        self.0.push(1); // jsonb binary format version
        self.0.extend_from_slice(json.as_bytes());
    }

    fn hash(&mut self, hash: &ChainHash) {
        self.field(hash.as_bytes());
    }
}

fn len_i32(len: usize) -> i32 {
    // Validation caps every field far below 2 GiB.
    i32::try_from(len).unwrap_or(i32::MAX)
}

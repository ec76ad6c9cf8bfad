//! Turning events into rows: the jsonb-stable metadata form, binary `COPY` and `UNNEST`.

use std::net::IpAddr;

use audit_core::AuditEvent;
use audit_core::chain::{ChainHash, canonical_bytes};
use audit_core::fields::{Field, FieldValue};
use serde_json::Value;

use crate::error::{Error, Result};

/// An event made ready for the chain before the head lock is taken: validated, its metadata in
/// the form PostgreSQL's `jsonb` gives back, and its canonical bytes already encoded, so only
/// the hashing itself happens while other writers wait.
pub(crate) struct Prepared {
    pub event: AuditEvent,
    pub metadata_json: String,
    canonical: Vec<u8>,
}

impl Prepared {
    pub fn new(event: &AuditEvent) -> Result<Self> {
        event.validate()?;
        let mut event = event.clone();
        normalize_metadata(&mut event.metadata)?;
        let metadata_json = serde_json::to_string(&event.metadata)
            .map_err(|err| Error::Metadata(err.to_string()))?;
        let mut canonical = Vec::with_capacity(32 + 256);
        canonical.extend_from_slice(&[0; 32]);
        canonical_bytes(&event, &mut canonical);
        Ok(Self {
            event,
            metadata_json,
            canonical,
        })
    }

    /// `H(prev ‖ canonical_bytes)`.
    pub fn hash(&mut self, hasher: &audit_core::ChainHasher, prev: &ChainHash) -> ChainHash {
        self.canonical[..32].copy_from_slice(prev.as_bytes());
        hasher.hash_bytes(&self.canonical)
    }
}

/// A prepared event with its assigned place in the chain.
pub(crate) struct Chained<'a> {
    pub row: &'a Prepared,
    pub seq: u64,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// Rewrites `metadata` into the exact value that reading it back from a `jsonb` column yields,
/// so the hash computed now verifies later.
///
/// `jsonb` stores numbers as `numeric`, which prints without exponents (`1e16` comes back as
/// `10000000000000000`, an integer to serde_json) and has no negative zero; and it refuses the
/// NUL character in strings. Integers, strings and structure are otherwise kept as they are.
pub(crate) fn normalize_metadata(value: &mut Value) -> Result<()> {
    match value {
        Value::Number(n) if n.is_f64() => {
            let text = n.to_string();
            let plain = plain_decimal(&text);
            if plain != text {
                *value = serde_json::from_str(&plain).map_err(|err| {
                    Error::Metadata(format!("number {text} cannot be normalized: {err}"))
                })?;
            }
        }
        Value::String(s) if s.contains('\0') => {
            return Err(Error::Metadata(
                "a string contains the NUL character (\\u0000)".into(),
            ));
        }
        Value::Array(items) => {
            for item in items {
                normalize_metadata(item)?;
            }
        }
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                return Err(Error::Metadata(
                    "a key contains the NUL character (\\u0000)".into(),
                ));
            }
            for item in map.values_mut() {
                normalize_metadata(item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// How PostgreSQL's `numeric` prints a JSON number literal: no exponent, the scale kept
/// (`1.5e-7` → `0.00000015`, `1e16` → `10000000000000000`), zero unsigned.
fn plain_decimal(text: &str) -> String {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    // Value = digits × 10^(exponent − frac_len); numeric keeps scale = max(0, frac_len − exponent).
    let frac_len = frac_part.len() as i64;
    let scale = (frac_len - exponent).max(0);
    let point_from_right = frac_len - exponent;
    let mut all = digits;
    if point_from_right < 0 {
        all.extend(std::iter::repeat_n('0', (-point_from_right) as usize));
    }
    let scale_us = scale as usize;
    if all.len() <= scale_us {
        let pad = scale_us + 1 - all.len();
        all.insert_str(0, &"0".repeat(pad));
    }
    let split = all.len() - scale_us;
    let (int_digits, frac_digits) = all.split_at(split);
    let int_trimmed = int_digits.trim_start_matches('0');
    let int_trimmed = if int_trimmed.is_empty() {
        "0"
    } else {
        int_trimmed
    };
    let is_zero = int_trimmed == "0" && frac_digits.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(all.len() + 2);
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(int_trimmed);
    if scale_us > 0 {
        out.push('.');
        out.push_str(frac_digits);
    }
    out
}

const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// The binary `COPY` stream for `rows` (header, tuples, trailer), in
/// [`event_columns`](super::schema::event_columns) order.
pub(crate) fn copy_binary(rows: &[Chained<'_>]) -> Vec<u8> {
    // Every column but the event's fields: seq, prev_hash, hash.
    const COLUMNS: i16 = Field::ALL.len() as i16 + 3;
    let mut out = Vec::with_capacity(19 + rows.len() * 420 + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for r in rows {
        out.extend_from_slice(&COLUMNS.to_be_bytes());
        field(&mut out, &(r.seq as i64).to_be_bytes());
        for f in Field::ALL {
            match f.value(&r.row.event) {
                FieldValue::Id(id) => field(&mut out, id.as_bytes()),
                FieldValue::Time(at) => {
                    let micros = at.timestamp_micros() - PG_EPOCH_OFFSET_MICROS;
                    field(&mut out, &micros.to_be_bytes());
                }
                FieldValue::Text(value) => text(&mut out, value),
                FieldValue::Ip(None) => null(&mut out),
                FieldValue::Ip(Some(IpAddr::V4(v4))) => {
                    out.extend_from_slice(&8i32.to_be_bytes());
                    out.extend_from_slice(&[2, 32, 0, 4]);
                    out.extend_from_slice(&v4.octets());
                }
                FieldValue::Ip(Some(IpAddr::V6(v6))) => {
                    out.extend_from_slice(&20i32.to_be_bytes());
                    out.extend_from_slice(&[3, 128, 0, 16]);
                    out.extend_from_slice(&v6.octets());
                }
                // The metadata as normalised for `jsonb` (see `normalize_metadata`).
                FieldValue::Json(_) => {
                    let json = r.row.metadata_json.as_bytes();
                    out.extend_from_slice(&len_i32(json.len() + 1).to_be_bytes());
                    out.push(1); // jsonb binary format version
                    out.extend_from_slice(json);
                }
            }
        }
        field(&mut out, r.prev_hash.as_bytes());
        field(&mut out, r.hash.as_bytes());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

fn len_i32(len: usize) -> i32 {
    // Validation caps every field far below 2 GiB.
    i32::try_from(len).unwrap_or(i32::MAX)
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_i32(bytes.len()).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

fn text(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => null(out),
        Some(s) => field(out, s.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exponent_numbers_print_like_numeric() {
        assert_eq!(plain_decimal("1e16"), "10000000000000000");
        assert_eq!(plain_decimal("1.5e-7"), "0.00000015");
        assert_eq!(plain_decimal("-2.5e3"), "-2500");
        assert_eq!(plain_decimal("1.2345e2"), "123.45");
        assert_eq!(plain_decimal("-0.0"), "0.0");
        assert_eq!(plain_decimal("0.1"), "0.1");
        assert_eq!(plain_decimal("123.0"), "123.0");
    }

    #[test]
    fn large_integral_floats_become_integers() {
        let mut v = json!({"a": 1e16, "b": [1.5e-7], "c": "x", "d": 7});
        normalize_metadata(&mut v).unwrap();
        assert_eq!(v["a"], json!(10000000000000000u64));
        assert_eq!(v["b"][0].as_f64(), Some(1.5e-7));
        assert_eq!(v["d"], json!(7));
    }

    #[test]
    fn nul_in_metadata_is_refused() {
        let mut v = json!({"a": "x\u{0}y"});
        assert!(matches!(
            normalize_metadata(&mut v),
            Err(Error::Metadata(_))
        ));
    }
}

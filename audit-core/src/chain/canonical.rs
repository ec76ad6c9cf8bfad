//! The versioned, backend-independent byte encoding of an event (see `docs/chain.md`).

use std::io::Write as _;

use serde_json::Value;

use crate::event::AuditEvent;
use crate::fields::{Field, FieldValue};

/// The version of the canonical encoding; it is the first byte of every encoding.
pub const CANONICAL_VERSION: u8 = 1;

/// Appends the canonical encoding of `event` to `out`.
///
/// Version 1: the version byte, then every field of [`Field::ALL`] in its order: the id's 16
/// bytes, `occurred_at` as a big-endian `i64` of microseconds since the Unix epoch, and each
/// other field as a presence byte (`0` absent, `1` present) followed by a big-endian `u32`
/// length and the UTF-8 bytes (the IP in its `Display` form, the metadata as canonical JSON).
/// The sequence number is deliberately not encoded: order is carried by `prev_hash`, which
/// lets the verifier tell a reordered or inserted record from a modified one.
pub fn canonical_bytes(event: &AuditEvent, out: &mut Vec<u8>) {
    out.push(CANONICAL_VERSION);
    for field in Field::ALL {
        match field.value(event) {
            FieldValue::Id(id) => out.extend_from_slice(id.as_bytes()),
            FieldValue::Time(at) => out.extend_from_slice(&at.timestamp_micros().to_be_bytes()),
            FieldValue::Text(text) => self::field(out, text),
            FieldValue::Ip(None) => out.push(0),
            // `Display` of `IpAddr`: dotted quad, or RFC 5952 text for IPv6.
            FieldValue::Ip(Some(ip)) => length_prefixed(out, |out| {
                // Writing into a `Vec` cannot fail.
                let _ = write!(out, "{ip}");
            }),
            FieldValue::Json(value) => length_prefixed(out, |out| canonical_json(value, out)),
        }
    }
}

fn field(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            // Fields are validated far below 4 GiB; saturate rather than panic regardless.
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// Writes a present field whose text `write` produces in place: the same bytes as
/// [`field`], without building the text in a temporary string first.
fn length_prefixed(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    out.push(1);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let len = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// JSON with object keys sorted by their UTF-8 bytes and no insignificant white space, so
/// the encoding does not depend on how a backend (or `serde_json`'s features) orders keys.
/// Scalars are written by `serde_json` itself.
fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            // Without serde_json's `preserve_order` feature the map iterates in sorted
            // order already; only sort (and allocate) when it does not.
            let sorted = map
                .keys()
                .zip(map.keys().skip(1))
                .all(|(a, b)| a.as_bytes() <= b.as_bytes());
            if sorted {
                object_entries(map.iter(), out);
            } else {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                object_entries(entries.into_iter(), out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        other => scalar(other, out),
    }
}

fn object_entries<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    for (i, (key, value)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // A key is written exactly as a JSON string value would be.
        let _ = serde_json::to_writer(&mut *out, key.as_str());
        out.push(b':');
        canonical_json(value, out);
    }
}

fn scalar(value: &Value, out: &mut Vec<u8>) {
    // Serializing a scalar `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, AuditEvent};
    use serde_json::json;

    /// The first, allocation-heavy implementation of v1, kept to prove the in-place
    /// writer produces the same bytes.
    fn reference_v1(event: &AuditEvent) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, value: Option<&str>) {
            match value {
                None => out.push(0),
                Some(text) => {
                    out.push(1);
                    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        fn json_text(value: &Value, out: &mut String) {
            match value {
                Value::Object(map) => {
                    let mut entries: Vec<_> = map.iter().collect();
                    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    out.push('{');
                    for (i, (key, value)) in entries.into_iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&serde_json::to_string(&Value::String(key.clone())).unwrap());
                        out.push(':');
                        json_text(value, out);
                    }
                    out.push('}');
                }
                Value::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        json_text(item, out);
                    }
                    out.push(']');
                }
                other => out.push_str(&serde_json::to_string(other).unwrap()),
            }
        }
        let mut out = vec![CANONICAL_VERSION];
        out.extend_from_slice(event.id.as_bytes());
        out.extend_from_slice(&event.occurred_at.timestamp_micros().to_be_bytes());
        field(&mut out, Some(&event.action));
        field(&mut out, Some(event.category.as_str()));
        field(&mut out, Some(event.outcome.as_str()));
        field(&mut out, event.reason.as_deref());
        field(&mut out, event.actor.as_ref().map(|a| a.kind.as_str()));
        field(&mut out, event.actor.as_ref().map(|a| a.id.as_str()));
        field(&mut out, event.entity_type.as_deref());
        field(&mut out, event.entity_id.as_deref());
        field(&mut out, event.description.as_deref());
        field(&mut out, event.ip.map(|ip| ip.to_string()).as_deref());
        field(&mut out, event.user_agent.as_deref());
        field(&mut out, event.request_id.as_deref());
        field(&mut out, event.session_id.as_deref());
        field(&mut out, event.tenant.as_deref());
        field(&mut out, Some(event.severity.as_str()));
        let mut json = String::new();
        json_text(&event.metadata, &mut json);
        field(&mut out, Some(&json));
        out
    }

    #[test]
    fn in_place_encoding_matches_the_reference_implementation() {
        let metadata = [
            json!({}),
            json!({"b": 1, "a": [true, null, -0.0, 1e300, 12345678901234567890u64, -5]}),
            json!({"ctrl": "\u{0}\u{1f}\u{7f}\t\n\r\u{8}\u{c}", "q": "\"\\/", "ü": {"z": {}, "é": []}}),
            json!({"B": 1, "a": 2, "_": 3, "": 4, "😀": 5, "é": 6, "e": 7}),
            json!([1, 2]),
            json!("not an object"),
        ];
        let ips = [
            None,
            Some("10.0.0.1"),
            Some("::"),
            Some("2001:db8::8a2e:370:7334"),
            Some("::ffff:1.2.3.4"),
        ];
        for (i, metadata) in metadata.into_iter().enumerate() {
            let ip = ips[i % ips.len()].map(|ip| ip.parse().unwrap());
            let mut b = AuditEvent::builder("CODE")
                .metadata(metadata)
                .description("d");
            if let Some(ip) = ip {
                b = b.ip(ip).actor(Actor::user("ü"));
            }
            let event = b.build();
            let mut out = Vec::new();
            canonical_bytes(&event, &mut out);
            assert_eq!(out, reference_v1(&event), "event {i}");
        }
    }

    #[test]
    fn absent_and_empty_fields_encode_differently() {
        let absent = AuditEvent::builder("A").build();
        let mut empty = absent.clone();
        empty.description = Some(String::new());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        canonical_bytes(&absent, &mut a);
        canonical_bytes(&empty, &mut b);
        assert_ne!(a, b);
    }
}

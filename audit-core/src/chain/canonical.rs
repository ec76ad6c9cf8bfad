//! The versioned, backend-independent byte encoding of an event (see `docs/chain.md`).

use serde_json::Value;

use crate::event::AuditEvent;

/// The version of the canonical encoding; it is the first byte of every encoding.
pub const CANONICAL_VERSION: u8 = 1;

/// Appends the canonical encoding of `event` to `out`.
///
/// Version 1: the version byte, the id's 16 bytes, `occurred_at` as a big-endian `i64` of
/// microseconds since the Unix epoch, then each text field in a fixed order as a presence
/// byte (`0` absent, `1` present) followed by a big-endian `u32` length and the UTF-8 bytes.
/// The sequence number is deliberately not encoded: order is carried by `prev_hash`, which
/// lets the verifier tell a reordered or inserted record from a modified one.
pub fn canonical_bytes(event: &AuditEvent, out: &mut Vec<u8>) {
    out.push(CANONICAL_VERSION);
    out.extend_from_slice(event.id.as_bytes());
    out.extend_from_slice(&event.occurred_at.timestamp_micros().to_be_bytes());
    field(out, Some(&event.action));
    field(out, Some(event.category.as_str()));
    field(out, Some(event.outcome.as_str()));
    field(out, event.reason.as_deref());
    field(out, event.actor.as_ref().map(|a| a.kind.as_str()));
    field(out, event.actor.as_ref().map(|a| a.id.as_str()));
    field(out, event.entity_type.as_deref());
    field(out, event.entity_id.as_deref());
    field(out, event.description.as_deref());
    field(out, event.ip.map(|ip| ip.to_string()).as_deref());
    field(out, event.user_agent.as_deref());
    field(out, event.request_id.as_deref());
    field(out, event.session_id.as_deref());
    field(out, event.tenant.as_deref());
    field(out, Some(event.severity.as_str()));
    let mut json = String::new();
    canonical_json(&event.metadata, &mut json);
    field(out, Some(&json));
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

/// JSON with object keys sorted by their UTF-8 bytes and no insignificant white space, so
/// the encoding does not depend on how a backend (or `serde_json`'s features) orders keys.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                scalar(&Value::String(key.clone()), out);
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => scalar(other, out),
    }
}

fn scalar(value: &Value, out: &mut String) {
    // Serializing a scalar `Value` to a string cannot fail.
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
}

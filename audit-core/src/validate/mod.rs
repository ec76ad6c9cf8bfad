//! Validation of events: the action code grammar, text limits and the metadata shape.

use serde_json::Value;

use crate::event::AuditEvent;

pub(crate) mod error;

pub use error::ValidationError;

/// Longest action code, in bytes.
pub const MAX_ACTION_LEN: usize = 128;
/// Longest identifier-like field (actor id, entity type and id, request, session, tenant), in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest user agent, in bytes.
pub const MAX_USER_AGENT_LEN: usize = 512;
/// Longest description or reason, in bytes.
pub const MAX_TEXT_LEN: usize = 4096;
/// Largest metadata object once serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// How deeply metadata may nest objects and arrays (a flat object is depth 1). Far below
/// what JSON readers allow (serde_json refuses 128), so every store reads back what it
/// stores.
pub const MAX_METADATA_DEPTH: usize = 32;

impl AuditEvent {
    /// Checks the action code grammar, text lengths and the metadata shape.
    pub fn validate(&self) -> Result<(), ValidationError> {
        event(self)
    }
}

/// Checks an action code against the grammar: ASCII letters, digits and `_ . : -`,
/// starting with a letter, 1 to 128 characters.
///
/// ```
/// use audit_core::validate::action_code;
/// assert!(action_code("FTMS_BOOKING_CREATED").is_ok());
/// assert!(action_code("authn_login_fail").is_ok());
/// assert!(action_code("drop table;").is_err());
/// ```
pub fn action_code(code: &str) -> Result<(), ValidationError> {
    let fail = |problem| {
        Err(ValidationError::ActionCode {
            code: code.chars().take(64).collect(),
            problem,
        })
    };
    let Some(first) = code.as_bytes().first() else {
        return fail("it is empty");
    };
    if code.len() > MAX_ACTION_LEN {
        return fail("it is longer than 128 characters");
    }
    if !first.is_ascii_alphabetic() {
        return fail("it must start with an ASCII letter");
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    {
        return fail("only ASCII letters, digits and `_ . : -` are allowed");
    }
    Ok(())
}

fn text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
    free_text: bool,
) -> Result<(), ValidationError> {
    let Some(value) = value else { return Ok(()) };
    if value.len() > max {
        return Err(ValidationError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    let bad = |c: char| c.is_control() && !(free_text && matches!(c, '\t' | '\n' | '\r'));
    if value.chars().any(bad) {
        return Err(ValidationError::ControlCharacter { field });
    }
    Ok(())
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Validates a whole event; see [`AuditEvent::validate`].
pub fn event(event: &AuditEvent) -> Result<(), ValidationError> {
    action_code(&event.action)?;
    text(
        "actor.id",
        event.actor.as_ref().map(|a| a.id.as_str()),
        MAX_ID_LEN,
        false,
    )?;
    text(
        "entity_type",
        event.entity_type.as_deref(),
        MAX_ID_LEN,
        false,
    )?;
    text("entity_id", event.entity_id.as_deref(), MAX_ID_LEN, false)?;
    text("request_id", event.request_id.as_deref(), MAX_ID_LEN, false)?;
    text("session_id", event.session_id.as_deref(), MAX_ID_LEN, false)?;
    text("tenant", event.tenant.as_deref(), MAX_ID_LEN, false)?;
    text(
        "user_agent",
        event.user_agent.as_deref(),
        MAX_USER_AGENT_LEN,
        false,
    )?;
    text(
        "description",
        event.description.as_deref(),
        MAX_TEXT_LEN,
        true,
    )?;
    text("reason", event.reason.as_deref(), MAX_TEXT_LEN, true)?;
    if !event.metadata.is_object() {
        return Err(ValidationError::MetadataNotObject {
            found: json_type(&event.metadata),
        });
    }
    metadata_shape(&event.metadata)?;
    let size = serde_json::to_vec(&event.metadata)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(ValidationError::TooLong {
            field: "metadata",
            len: size,
            max: MAX_METADATA_BYTES,
        });
    }
    Ok(())
}

/// Checks the metadata's nesting depth and that it holds no NUL, without recursion (it runs
/// before anything recursive touches the value: serializing it, redacting it, hashing it).
pub fn metadata_shape(metadata: &Value) -> Result<(), ValidationError> {
    let mut pending = vec![(metadata, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            Value::Object(map) => {
                if depth > MAX_METADATA_DEPTH {
                    return Err(ValidationError::MetadataTooDeep {
                        max: MAX_METADATA_DEPTH,
                    });
                }
                for (key, v) in map {
                    if key.contains('\0') {
                        return Err(ValidationError::MetadataNul);
                    }
                    pending.push((v, depth + 1));
                }
            }
            Value::Array(items) => {
                if depth > MAX_METADATA_DEPTH {
                    return Err(ValidationError::MetadataTooDeep {
                        max: MAX_METADATA_DEPTH,
                    });
                }
                pending.extend(items.iter().map(|v| (v, depth + 1)));
            }
            Value::String(s) if s.contains('\0') => return Err(ValidationError::MetadataNul),
            _ => {}
        }
    }
    Ok(())
}

/// Frees a JSON value without recursion, however deeply it nests (dropping a `Value` the
/// usual way recurses once per level).
pub fn dismantle(value: Value) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => pending.extend(map.into_iter().map(|(_, v)| v)),
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
}

/// Shortens `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
///
/// Used for values the library produces itself (an error's `Display` text as a failure
/// reason), where truncating is better than rejecting the event.
pub fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, AuditEvent};

    #[test]
    fn action_code_grammar() {
        for ok in ["FTMS_BOOKING_CREATED", "authn_login_fail", "a", "x.y:z-1"] {
            assert!(action_code(ok).is_ok(), "{ok}");
        }
        let long = "A".repeat(129);
        for bad in ["", "drop table;", "1ABC", "_A", "A B", "é", long.as_str()] {
            assert!(action_code(bad).is_err(), "{bad}");
        }
        assert!(action_code(&"A".repeat(128)).is_ok());
    }

    #[test]
    fn oversized_fields_are_rejected_with_their_name() {
        let event = AuditEvent::builder("A")
            .actor(Actor::user("x".repeat(300)))
            .build();
        assert!(matches!(
            event.validate(),
            Err(ValidationError::TooLong {
                field: "actor.id",
                ..
            })
        ));
    }

    /// Metadata nested `levels` deep, built and freed without recursion.
    fn nested(levels: usize) -> serde_json::Value {
        let mut value = serde_json::Value::from("leaf");
        for _ in 0..levels {
            let mut map = serde_json::Map::new();
            map.insert("k".to_owned(), value);
            value = serde_json::Value::Object(map);
        }
        value
    }

    #[test]
    fn metadata_nested_past_the_limit_is_refused_without_recursion() {
        let ok = AuditEvent::builder("A")
            .metadata(nested(MAX_METADATA_DEPTH))
            .build();
        assert_eq!(ok.validate(), Ok(()));
        for levels in [MAX_METADATA_DEPTH + 1, 200, 100_000] {
            let event = AuditEvent::builder("A").metadata(nested(levels)).build();
            assert_eq!(
                event.validate(),
                Err(ValidationError::MetadataTooDeep {
                    max: MAX_METADATA_DEPTH
                }),
                "{levels} levels"
            );
            dismantle(event.metadata);
        }
    }

    #[test]
    fn nul_in_metadata_keys_or_strings_is_refused() {
        for metadata in [
            serde_json::json!({ "a\u{0}b": 1 }),
            serde_json::json!({ "a": ["x\u{0}y"] }),
        ] {
            let event = AuditEvent::builder("A").metadata(metadata).build();
            assert_eq!(event.validate(), Err(ValidationError::MetadataNul));
        }
    }

    #[test]
    fn metadata_must_be_an_object() {
        let event = AuditEvent::builder("A")
            .metadata(serde_json::json!([1, 2]))
            .build();
        assert_eq!(
            event.validate(),
            Err(ValidationError::MetadataNotObject { found: "an array" })
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let mut s = "héllo wörld".to_string();
        truncate(&mut s, 6);
        assert!(s.len() <= 6 && s.ends_with('…'));
    }
}

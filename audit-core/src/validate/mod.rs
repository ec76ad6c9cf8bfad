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

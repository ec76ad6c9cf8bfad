//! What happens to every event before a sink sees it, shared by every recorder (the
//! pipeline's worker, [`testing`](crate::testing)): context merge, redaction, validation, and
//! the `AUDIT_EVENT_INVALID` stand-in for an event that fails validation.

use serde_json::{Map, Value};

use crate::context::Snapshot;
use crate::event::{AuditEvent, Category, Outcome, Severity};
use crate::redact::Redactor;
use crate::validate::{self, ValidationError};

/// The action code of the event written in place of an invalid one.
pub const INVALID_EVENT_ACTION: &str = "AUDIT_EVENT_INVALID";

/// How many characters of an invalid event's action are kept in its stand-in's metadata.
const KEPT_ACTION_CHARS: usize = 128;

/// An event that failed validation, and the `AUDIT_EVENT_INVALID` stand-in written in its
/// place.
#[derive(Debug)]
#[non_exhaustive]
pub struct Invalid {
    /// The event as recorded (after context merge and redaction).
    pub original: AuditEvent,
    /// Why it is invalid.
    pub error: ValidationError,
    /// The event to write in its place.
    pub stand_in: AuditEvent,
}

/// Merges the context (explicit fields win), redacts, then validates.
///
/// Redaction runs before validation so that the size limit applies to what is stored. The
/// metadata's shape (nesting depth, NUL) is checked first of all, without recursion, so that
/// nothing recursive ever runs on hostile metadata; metadata refused for its shape is freed
/// without recursion too, and replaced in [`Invalid::original`] by a note saying why.
pub fn prepare(
    mut event: AuditEvent,
    ctx: Option<&Snapshot>,
    redactor: &Redactor,
) -> Result<AuditEvent, Box<Invalid>> {
    if let Some(ctx) = ctx {
        ctx.apply_to(&mut event);
    }
    if let Err(error) = validate::metadata_shape(&event.metadata) {
        let hostile = std::mem::replace(
            &mut event.metadata,
            Value::String(format!("<not kept: {error}>")),
        );
        validate::dismantle(hostile);
        let stand_in = stand_in(&event, &error);
        return Err(Box::new(Invalid {
            original: event,
            error,
            stand_in,
        }));
    }
    redactor.redact_event(&mut event);
    match event.validate() {
        Ok(()) => Ok(event),
        Err(error) => {
            let stand_in = stand_in(&event, &error);
            Err(Box::new(Invalid {
                original: event,
                error,
                stand_in,
            }))
        }
    }
}

/// The `AUDIT_EVENT_INVALID` event recorded in place of `original`, so nothing vanishes.
///
/// It keeps the original's who/where fields when they are valid on their own, so the
/// failure can still be traced to an actor and a request.
pub fn stand_in(original: &AuditEvent, error: &ValidationError) -> AuditEvent {
    let mut metadata = Map::new();
    metadata.insert("original_id".into(), Value::String(original.id.to_string()));
    // Quoted with control characters escaped (`\0`, `\n`): the stand-in must be storable
    // by every backend whatever the original held.
    metadata.insert(
        "original_action".into(),
        Value::String(
            original
                .action
                .chars()
                .flat_map(char::escape_debug)
                .take(KEPT_ACTION_CHARS)
                .collect(),
        ),
    );
    let mut reason = error.to_string();
    validate::truncate(&mut reason, validate::MAX_TEXT_LEN);
    let bare = AuditEvent::builder(INVALID_EVENT_ACTION)
        .category(Category::System)
        .severity(Severity::Error)
        .outcome(Outcome::Failure, Some(reason))
        .occurred_at(original.occurred_at)
        .metadata(Value::Object(metadata))
        .build();
    let mut event = bare.clone();
    event.actor.clone_from(&original.actor);
    event.ip = original.ip;
    event.user_agent.clone_from(&original.user_agent);
    event.request_id.clone_from(&original.request_id);
    event.session_id.clone_from(&original.session_id);
    event.tenant.clone_from(&original.tenant);
    event.entity_type.clone_from(&original.entity_type);
    event.entity_id.clone_from(&original.entity_id);
    if event.validate().is_ok() {
        event
    } else {
        bare
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::AuditContext;
    use crate::event::Actor;
    use std::sync::Arc;

    #[test]
    fn explicit_fields_win_over_the_context() {
        let ctx = AuditContext::new()
            .actor(Actor::user("ctx"))
            .request_id("r-ctx");
        let event = AuditEvent::builder("A")
            .actor(Actor::user("explicit"))
            .build();
        let ctx = Snapshot::of(Arc::new(ctx));
        let Ok(event) = prepare(event, Some(&ctx), &Redactor::default()) else {
            panic!("valid event");
        };
        assert_eq!(event.actor, Some(Actor::user("explicit")));
        assert_eq!(event.request_id.as_deref(), Some("r-ctx"));
    }

    #[test]
    fn invalid_event_gets_a_system_stand_in() {
        let event = AuditEvent::builder("drop table;").build();
        let id = event.id;
        let Err(invalid) = prepare(event, None, &Redactor::default()) else {
            panic!("invalid event");
        };
        let stand_in = invalid.stand_in;
        assert_eq!(stand_in.action, INVALID_EVENT_ACTION);
        assert_eq!(stand_in.category, Category::System);
        assert_eq!(stand_in.severity, Severity::Error);
        assert_eq!(stand_in.metadata["original_id"], id.to_string());
        assert_eq!(stand_in.metadata["original_action"], "drop table;");
        assert!(stand_in.validate().is_ok());
    }

    #[test]
    fn stand_in_drops_the_fields_that_made_it_invalid() {
        let event = AuditEvent::builder("A")
            .actor(Actor::user("x".repeat(1000)))
            .build();
        let Err(invalid) = prepare(event, None, &Redactor::default()) else {
            panic!("invalid event");
        };
        let stand_in = invalid.stand_in;
        assert!(stand_in.actor.is_none());
        assert!(stand_in.validate().is_ok());
    }

    #[test]
    fn a_stand_in_quotes_control_characters_escaped_so_every_store_can_hold_it() {
        let event = AuditEvent::builder("BAD\u{0}CODE\nX").build();
        let Err(invalid) = prepare(event, None, &Redactor::default()) else {
            panic!("invalid event");
        };
        let quoted = invalid.stand_in.metadata["original_action"]
            .as_str()
            .unwrap();
        assert_eq!(quoted, "BAD\\0CODE\\nX");
        assert!(
            !invalid
                .stand_in
                .reason
                .as_deref()
                .unwrap_or("")
                .contains('\0')
        );
        assert!(invalid.stand_in.validate().is_ok());
    }

    #[test]
    fn metadata_nested_deeply_becomes_a_stand_in_without_exhausting_the_stack() {
        let mut metadata = Value::from("leaf");
        for _ in 0..200_000 {
            let mut map = Map::new();
            map.insert("k".to_owned(), metadata);
            metadata = Value::Object(map);
        }
        // Prepared on a thread with a small stack, as a pipeline thread might have.
        let prepared = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let event = AuditEvent::builder("DEEP").metadata(metadata).build();
                let Err(invalid) = prepare(event, None, &Redactor::default()) else {
                    panic!("too deep to be valid");
                };
                (invalid.error.clone(), invalid.stand_in.validate())
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert!(matches!(
            prepared.0,
            ValidationError::MetadataTooDeep { .. }
        ));
        assert!(prepared.1.is_ok());
    }
}

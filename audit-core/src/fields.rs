//! The one table of an event's stored fields, which every encoder walks.
//!
//! The canonical chain encoding ([`chain::canonical_bytes`](crate::chain::canonical_bytes)),
//! the export columns ([`export`](crate::export)) and each backend's rows (SQLite, PostgreSQL,
//! MySQL) all iterate [`Field::ALL`] and read each field with [`Field::value`]; decoding a
//! stored row goes through [`read_event`]. Adding a field to [`AuditEvent`] therefore means
//! adding it here (and a column to each backend's schema), not editing every encoder.
//!
//! The order of [`Field::ALL`] is the order of the canonical encoding (version 1, see
//! `docs/chain.md`) and of the columns between `seq` and the hashes in every backend.
//!
//! ```
//! use audit_core::fields::{Field, FieldValue};
//! use audit_core::AuditEvent;
//!
//! let event = AuditEvent::builder("USER_LOGIN").entity("user", "u-1").build();
//! let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
//! assert_eq!(names[..3], ["id", "occurred_at", "action"]);
//! assert_eq!(Field::EntityId.value(&event), FieldValue::Text(Some("u-1")));
//! ```

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::event::{Actor, AuditEvent};

/// One stored field of an [`AuditEvent`], in canonical order.
///
/// The actor is stored as two fields (`actor_kind`, `actor_id`), both present or both absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `id`: the event's UUIDv7.
    Id,
    /// `occurred_at`: UTC, microseconds.
    OccurredAt,
    /// `action`: the event code.
    Action,
    /// `category`.
    Category,
    /// `outcome`.
    Outcome,
    /// `reason`: why it failed or was denied.
    Reason,
    /// `actor_kind`.
    ActorKind,
    /// `actor_id`.
    ActorId,
    /// `entity_type`.
    EntityType,
    /// `entity_id`.
    EntityId,
    /// `description`.
    Description,
    /// `ip`.
    Ip,
    /// `user_agent`.
    UserAgent,
    /// `request_id`.
    RequestId,
    /// `session_id`.
    SessionId,
    /// `tenant`.
    Tenant,
    /// `severity`.
    Severity,
    /// `metadata`: a JSON object.
    Metadata,
}

/// How a field is stored: what each backend maps to a column type.
///
/// Deliberately exhaustive: a new kind must fail to compile in every encoder until it is
/// given a column type there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A UUID (16 bytes).
    Id,
    /// A UTC timestamp with microsecond precision.
    Time,
    /// UTF-8 text; `required` fields are never absent.
    Text {
        /// Whether the field is always present.
        required: bool,
    },
    /// An optional IP address.
    Ip,
    /// A JSON value (always present).
    Json,
}

/// A field's value, borrowed from the event. Exhaustive, like [`FieldKind`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// [`FieldKind::Id`].
    Id(&'a Uuid),
    /// [`FieldKind::Time`].
    Time(DateTime<Utc>),
    /// [`FieldKind::Text`]; `None` when absent.
    Text(Option<&'a str>),
    /// [`FieldKind::Ip`]; `None` when absent.
    Ip(Option<IpAddr>),
    /// [`FieldKind::Json`].
    Json(&'a Value),
}

impl Field {
    /// Every field, in canonical order.
    pub const ALL: [Field; 18] = [
        Field::Id,
        Field::OccurredAt,
        Field::Action,
        Field::Category,
        Field::Outcome,
        Field::Reason,
        Field::ActorKind,
        Field::ActorId,
        Field::EntityType,
        Field::EntityId,
        Field::Description,
        Field::Ip,
        Field::UserAgent,
        Field::RequestId,
        Field::SessionId,
        Field::Tenant,
        Field::Severity,
        Field::Metadata,
    ];

    /// The column name, shared by every backend and the export formats.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::OccurredAt => "occurred_at",
            Field::Action => "action",
            Field::Category => "category",
            Field::Outcome => "outcome",
            Field::Reason => "reason",
            Field::ActorKind => "actor_kind",
            Field::ActorId => "actor_id",
            Field::EntityType => "entity_type",
            Field::EntityId => "entity_id",
            Field::Description => "description",
            Field::Ip => "ip",
            Field::UserAgent => "user_agent",
            Field::RequestId => "request_id",
            Field::SessionId => "session_id",
            Field::Tenant => "tenant",
            Field::Severity => "severity",
            Field::Metadata => "metadata",
        }
    }

    /// How the field is stored.
    pub const fn kind(self) -> FieldKind {
        match self {
            Field::Id => FieldKind::Id,
            Field::OccurredAt => FieldKind::Time,
            Field::Action | Field::Category | Field::Outcome | Field::Severity => {
                FieldKind::Text { required: true }
            }
            Field::Ip => FieldKind::Ip,
            Field::Metadata => FieldKind::Json,
            Field::Reason
            | Field::ActorKind
            | Field::ActorId
            | Field::EntityType
            | Field::EntityId
            | Field::Description
            | Field::UserAgent
            | Field::RequestId
            | Field::SessionId
            | Field::Tenant => FieldKind::Text { required: false },
        }
    }

    /// The field's position in [`Field::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The field's value in `event`.
    #[inline]
    pub fn value(self, event: &AuditEvent) -> FieldValue<'_> {
        match self {
            Field::Id => FieldValue::Id(&event.id),
            Field::OccurredAt => FieldValue::Time(event.occurred_at),
            Field::Action => FieldValue::Text(Some(&event.action)),
            Field::Category => FieldValue::Text(Some(event.category.as_str())),
            Field::Outcome => FieldValue::Text(Some(event.outcome.as_str())),
            Field::Reason => FieldValue::Text(event.reason.as_deref()),
            Field::ActorKind => FieldValue::Text(event.actor.as_ref().map(|a| a.kind.as_str())),
            Field::ActorId => FieldValue::Text(event.actor.as_ref().map(|a| a.id.as_str())),
            Field::EntityType => FieldValue::Text(event.entity_type.as_deref()),
            Field::EntityId => FieldValue::Text(event.entity_id.as_deref()),
            Field::Description => FieldValue::Text(event.description.as_deref()),
            Field::Ip => FieldValue::Ip(event.ip),
            Field::UserAgent => FieldValue::Text(event.user_agent.as_deref()),
            Field::RequestId => FieldValue::Text(event.request_id.as_deref()),
            Field::SessionId => FieldValue::Text(event.session_id.as_deref()),
            Field::Tenant => FieldValue::Text(event.tenant.as_deref()),
            Field::Severity => FieldValue::Text(Some(event.severity.as_str())),
            Field::Metadata => FieldValue::Json(&event.metadata),
        }
    }
}

/// The column names of [`Field::ALL`] joined with `", "`, for SQL column lists.
pub fn column_list() -> String {
    Field::ALL.map(Field::name).join(", ")
}

/// Reads one stored record's fields back, by field, in any order: a backend implements it
/// over its row type and hands it to [`read_event`].
pub trait FieldReader {
    /// The backend's error for a column it cannot read.
    type Error;

    /// Reads an [`FieldKind::Id`] field.
    fn id(&mut self, field: Field) -> Result<Uuid, Self::Error>;
    /// Reads a [`FieldKind::Time`] field.
    fn time(&mut self, field: Field) -> Result<DateTime<Utc>, Self::Error>;
    /// Reads a [`FieldKind::Text`] field (`None`: NULL).
    fn text(&mut self, field: Field) -> Result<Option<String>, Self::Error>;
    /// Reads a [`FieldKind::Ip`] field (`None`: NULL).
    fn ip(&mut self, field: Field) -> Result<Option<IpAddr>, Self::Error>;
    /// Reads a [`FieldKind::Json`] field.
    fn json(&mut self, field: Field) -> Result<Value, Self::Error>;
}

/// Why a stored record could not be read back into an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError<E> {
    /// The backend could not read a column.
    #[error("{field}: {source}", field = .field.name())]
    Column {
        /// The field being read.
        field: Field,
        /// The backend's error.
        source: E,
    },
    /// The column was read but its value is not valid for the field.
    #[error("{field}: {message}", field = .field.name())]
    Invalid {
        /// The field.
        field: Field,
        /// What is wrong with it.
        message: String,
    },
}

/// Reads an event through `reader`, checking what the types cannot: required text present,
/// names of categories, outcomes, severities and actor kinds known, and the actor's two
/// fields both present or both absent.
pub fn read_event<R: FieldReader>(reader: &mut R) -> Result<AuditEvent, ReadError<R::Error>> {
    let mut r = Reading { reader };
    let actor = match (r.text(Field::ActorKind)?, r.text(Field::ActorId)?) {
        (Some(kind), Some(id)) => Some(Actor {
            id,
            kind: parse(Field::ActorKind, &kind)?,
        }),
        (None, None) => None,
        _ => {
            return Err(ReadError::Invalid {
                field: Field::ActorId,
                message: "actor kind and id must be both set or both NULL".into(),
            });
        }
    };
    Ok(AuditEvent {
        id: r.column(Field::Id, FieldReader::id)?,
        occurred_at: r.column(Field::OccurredAt, FieldReader::time)?,
        action: Cow::Owned(r.required(Field::Action)?),
        category: parse(Field::Category, &r.required(Field::Category)?)?,
        outcome: parse(Field::Outcome, &r.required(Field::Outcome)?)?,
        reason: r.text(Field::Reason)?,
        actor,
        entity_type: r.text(Field::EntityType)?.map(Cow::Owned),
        entity_id: r.text(Field::EntityId)?,
        description: r.text(Field::Description)?,
        ip: r.column(Field::Ip, FieldReader::ip)?,
        user_agent: r.text(Field::UserAgent)?,
        request_id: r.text(Field::RequestId)?,
        session_id: r.text(Field::SessionId)?,
        tenant: r.text(Field::Tenant)?,
        severity: parse(Field::Severity, &r.required(Field::Severity)?)?,
        metadata: r.column(Field::Metadata, FieldReader::json)?,
    })
}

struct Reading<'r, R> {
    reader: &'r mut R,
}

impl<R: FieldReader> Reading<'_, R> {
    fn column<T>(
        &mut self,
        field: Field,
        read: impl FnOnce(&mut R, Field) -> Result<T, R::Error>,
    ) -> Result<T, ReadError<R::Error>> {
        read(self.reader, field).map_err(|source| ReadError::Column { field, source })
    }

    fn text(&mut self, field: Field) -> Result<Option<String>, ReadError<R::Error>> {
        self.column(field, FieldReader::text)
    }

    fn required(&mut self, field: Field) -> Result<String, ReadError<R::Error>> {
        match self.text(field)? {
            Some(text) if !text.is_empty() => Ok(text),
            Some(_) => Err(ReadError::Invalid {
                field,
                message: "is empty".into(),
            }),
            None => Err(ReadError::Invalid {
                field,
                message: "is NULL".into(),
            }),
        }
    }
}

fn parse<T, E>(field: Field, text: &str) -> Result<T, ReadError<E>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|err: T::Err| ReadError::Invalid {
        field,
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Category, Severity};
    use std::collections::HashMap;

    /// Reads from a map of the values [`Field::value`] gave: a round trip through the table.
    struct MapReader(HashMap<Field, Owned>);

    #[derive(Clone)]
    enum Owned {
        Id(Uuid),
        Time(DateTime<Utc>),
        Text(Option<String>),
        Ip(Option<IpAddr>),
        Json(Value),
    }

    impl MapReader {
        fn of(event: &AuditEvent) -> Self {
            let map = Field::ALL
                .iter()
                .map(|&f| {
                    let owned = match f.value(event) {
                        FieldValue::Id(v) => Owned::Id(*v),
                        FieldValue::Time(v) => Owned::Time(v),
                        FieldValue::Text(v) => Owned::Text(v.map(str::to_owned)),
                        FieldValue::Ip(v) => Owned::Ip(v),
                        FieldValue::Json(v) => Owned::Json(v.clone()),
                    };
                    (f, owned)
                })
                .collect();
            Self(map)
        }

        fn get(&self, field: Field) -> Result<Owned, String> {
            self.0.get(&field).cloned().ok_or_else(|| "missing".into())
        }
    }

    impl FieldReader for MapReader {
        type Error = String;
        fn id(&mut self, field: Field) -> Result<Uuid, String> {
            match self.get(field)? {
                Owned::Id(v) => Ok(v),
                _ => Err("not an id".into()),
            }
        }
        fn time(&mut self, field: Field) -> Result<DateTime<Utc>, String> {
            match self.get(field)? {
                Owned::Time(v) => Ok(v),
                _ => Err("not a time".into()),
            }
        }
        fn text(&mut self, field: Field) -> Result<Option<String>, String> {
            match self.get(field)? {
                Owned::Text(v) => Ok(v),
                _ => Err("not text".into()),
            }
        }
        fn ip(&mut self, field: Field) -> Result<Option<IpAddr>, String> {
            match self.get(field)? {
                Owned::Ip(v) => Ok(v),
                _ => Err("not an ip".into()),
            }
        }
        fn json(&mut self, field: Field) -> Result<Value, String> {
            match self.get(field)? {
                Owned::Json(v) => Ok(v),
                _ => Err("not json".into()),
            }
        }
    }

    fn full_event() -> AuditEvent {
        AuditEvent::builder("FTMS_BOOKING_CREATED")
            .category(Category::Business)
            .failure("no seats")
            .actor(Actor::service("billing"))
            .entity("booking", "b-1")
            .description("d")
            .ip("2001:db8::1".parse().unwrap_or_else(|_| unreachable!()))
            .user_agent("ua")
            .request_id("r")
            .session_id("s")
            .tenant("t")
            .severity(Severity::Warning)
            .metadata_entry("k", 1)
            .build()
    }

    #[test]
    fn every_field_round_trips_through_the_table() {
        for event in [full_event(), AuditEvent::builder("A").build()] {
            let back = read_event(&mut MapReader::of(&event)).expect("readable");
            assert_eq!(back, event);
        }
    }

    #[test]
    fn kinds_match_the_values_they_describe() {
        let event = full_event();
        for field in Field::ALL {
            let matches = matches!(
                (field.kind(), field.value(&event)),
                (FieldKind::Id, FieldValue::Id(_))
                    | (FieldKind::Time, FieldValue::Time(_))
                    | (FieldKind::Text { .. }, FieldValue::Text(_))
                    | (FieldKind::Ip, FieldValue::Ip(_))
                    | (FieldKind::Json, FieldValue::Json(_))
            );
            assert!(matches, "{field:?}");
            assert_eq!(Field::ALL[field.index()], field);
        }
    }

    #[test]
    fn a_half_present_actor_is_refused_naming_the_field() {
        let mut reader = MapReader::of(&full_event());
        reader.0.insert(Field::ActorKind, Owned::Text(None));
        let err = read_event(&mut reader).expect_err("half an actor");
        assert!(err.to_string().starts_with("actor_id:"), "{err}");
    }

    #[test]
    fn an_unknown_outcome_name_is_refused_naming_the_field() {
        let mut reader = MapReader::of(&full_event());
        reader
            .0
            .insert(Field::Outcome, Owned::Text(Some("maybe".into())));
        let err = read_event(&mut reader).expect_err("unknown outcome");
        assert!(err.to_string().starts_with("outcome:"), "{err}");
    }
}

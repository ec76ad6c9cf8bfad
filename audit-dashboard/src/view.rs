//! Stored events as the pages show them: text cut to fit a table cell, times in UTC, and
//! the links to the same actor, entity, request and IP.
//!
//! Everything here is plain data; the templates escape every value when they print it.

use audit_core::StoredEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::filter::Filter;
use crate::links::Links;

/// Longest text shown in a table cell; the event page shows all of it.
const CELL_CHARS: usize = 160;

/// `2026-11-23 14:05:09 UTC`.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// RFC 3339 with microseconds, for `<time datetime>` and tooltips.
pub(crate) fn time_iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// At most [`CELL_CHARS`] characters, marked with `…` when cut.
pub(crate) fn cell(text: &str) -> String {
    match text.char_indices().nth(CELL_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// A link with its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Linked {
    pub text: String,
    pub href: String,
}

/// One row of an event table (also the live feed's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct EventRow {
    pub seq: u64,
    pub href: String,
    pub time: String,
    pub time_iso: String,
    pub action: String,
    pub category: &'static str,
    pub outcome: &'static str,
    pub actor: Option<Linked>,
    pub entity: Option<Linked>,
    pub description: String,
}

impl EventRow {
    pub(crate) fn new(record: &StoredEvent, links: &Links) -> Self {
        let e = &record.event;
        Self {
            seq: record.seq,
            href: links.event(record.seq),
            time: time(e.occurred_at),
            time_iso: time_iso(e.occurred_at),
            action: cell(&e.action),
            category: e.category.as_str(),
            outcome: e.outcome.as_str(),
            actor: e.actor.as_ref().map(|a| Linked {
                text: cell(&a.id),
                href: links.actor(&a.id),
            }),
            entity: entity_link(record, links, true),
            description: cell(e.description.as_deref().unwrap_or("")),
        }
    }

    pub(crate) fn all(records: &[StoredEvent], links: &Links) -> Vec<Self> {
        records.iter().map(|r| Self::new(r, links)).collect()
    }
}

fn entity_link(record: &StoredEvent, links: &Links, short: bool) -> Option<Linked> {
    let e = &record.event;
    let id = e.entity_id.as_deref()?;
    let kind = e.entity_type.as_deref().unwrap_or("");
    let text = if kind.is_empty() {
        id.to_owned()
    } else {
        format!("{kind} {id}")
    };
    Some(Linked {
        text: if short { cell(&text) } else { text },
        href: links.entity(kind, id),
    })
}

/// One labelled field of the event page; `link` when it leads to related events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub label: &'static str,
    pub value: String,
    pub link: Option<String>,
    /// Hashes and ids: shown in a monospace font.
    pub code: bool,
}

fn field(label: &'static str, value: impl Into<String>) -> Field {
    Field {
        label,
        value: value.into(),
        link: None,
        code: false,
    }
}

/// Every field of one event, in reading order, and its metadata as formatted JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventDetail {
    pub seq: u64,
    pub action: String,
    pub outcome: &'static str,
    pub fields: Vec<Field>,
    pub chain: Vec<Field>,
    pub metadata: String,
}

impl EventDetail {
    pub(crate) fn new(record: &StoredEvent, links: &Links) -> Self {
        let e = &record.event;
        let mut fields = vec![
            Field {
                code: true,
                ..field("id", e.id.to_string())
            },
            Field {
                label: "occurred at",
                value: time_iso(e.occurred_at),
                link: None,
                code: false,
            },
            field("action", e.action.to_string()),
            field("category", e.category.as_str()),
            field("outcome", e.outcome.as_str()),
            field("severity", e.severity.as_str()),
        ];
        let mut optional = |label, value: Option<&str>, link: Option<String>| {
            if let Some(value) = value {
                fields.push(Field {
                    link,
                    ..field(label, value)
                });
            }
        };
        optional("reason", e.reason.as_deref(), None);
        if let Some(actor) = &e.actor {
            optional("actor", Some(&actor.id), Some(links.actor(&actor.id)));
            optional("actor kind", Some(actor.kind.as_str()), None);
        }
        optional("entity type", e.entity_type.as_deref(), None);
        let entity = entity_link(record, links, false).map(|l| l.href);
        optional("entity id", e.entity_id.as_deref(), entity);
        optional("description", e.description.as_deref(), None);
        let ip = e.ip.map(|ip| ip.to_string());
        let ip_link = ip.as_ref().map(|ip| {
            links.events(&Filter {
                ip: ip.clone(),
                ..Filter::default()
            })
        });
        optional("ip", ip.as_deref(), ip_link);
        optional("user agent", e.user_agent.as_deref(), None);
        let request_link = e.request_id.as_ref().map(|id| {
            links.events(&Filter {
                request_id: id.clone(),
                ..Filter::default()
            })
        });
        optional("request id", e.request_id.as_deref(), request_link);
        optional("session id", e.session_id.as_deref(), None);
        optional("tenant", e.tenant.as_deref(), None);
        let hash = |label, value: String| Field {
            code: true,
            ..field(label, value)
        };
        Self {
            seq: record.seq,
            action: e.action.to_string(),
            outcome: e.outcome.as_str(),
            fields,
            chain: vec![
                field("seq", record.seq.to_string()),
                hash("prev_hash", record.prev_hash.to_hex()),
                hash("hash", record.hash.to_hex()),
            ],
            metadata: serde_json::to_string_pretty(&e.metadata).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::chain::ChainHash;
    use audit_core::{Actor, AuditEvent};

    fn stored(event: AuditEvent) -> StoredEvent {
        StoredEvent {
            seq: 7,
            prev_hash: ChainHash::ZERO,
            hash: ChainHash([1; 32]),
            event,
        }
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(500);
        let shown = cell(&long);
        assert_eq!(shown.chars().count(), CELL_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(cell("short"), "short");
    }

    #[test]
    fn a_row_links_its_actor_entity_and_event() {
        let record = stored(
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .actor(Actor::user("alice"))
                .entity("booking", "b-1")
                .build(),
        );
        let row = EventRow::new(&record, &Links::new("/admin/audit"));
        assert_eq!(row.href, "/admin/audit/events/7");
        assert_eq!(row.actor.unwrap().href, "/admin/audit/actor?id=alice");
        let entity = row.entity.unwrap();
        assert_eq!(entity.text, "booking b-1");
        assert_eq!(entity.href, "/admin/audit/entity?type=booking&id=b-1");
    }

    #[test]
    fn the_detail_links_request_and_ip_to_filtered_events() {
        let record = stored(
            AuditEvent::builder("A")
                .ip("10.1.2.3".parse().unwrap())
                .request_id("r 1")
                .metadata_entry("seats", 2)
                .build(),
        );
        let detail = EventDetail::new(&record, &Links::new(""));
        let link = |label: &str| {
            detail
                .fields
                .iter()
                .find(|f| f.label == label)
                .and_then(|f| f.link.clone())
        };
        assert_eq!(link("ip").as_deref(), Some("/events?ip=10.1.2.3"));
        assert_eq!(
            link("request id").as_deref(),
            Some("/events?request_id=r+1")
        );
        assert_eq!(detail.metadata, "{\n  \"seats\": 2\n}");
        assert_eq!(detail.chain[2].value, "01".repeat(32));
    }
}

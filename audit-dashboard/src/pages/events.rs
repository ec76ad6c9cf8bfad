//! `GET /events`: the filter form, a table of matching events newest first, and keyset
//! paging both ways. The whole view lives in the URL.

use askama::Template;
use audit_core::{AuditStore, StoredEvent};
use axum::extract::Query;
use axum::response::Response;
use http::StatusCode;

use super::export::Download;
use crate::access::Permission;
use crate::errors::{Failure, PageError};
use crate::filter::{Direction, Filter};
use crate::layout::{Chrome, Section, html, html_with_status};
use crate::page::Ctx;
use crate::record;
use crate::view::EventRow;

/// One option of a `<select>`.
pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn choices(options: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

/// The filter form, filled with the current filter.
pub(crate) struct Form {
    pub action: String,
    pub reset: String,
    pub filter: Filter,
    pub action_prefix: bool,
    pub categories: Vec<Choice>,
    pub outcomes: Vec<Choice>,
    pub orders: Vec<Choice>,
    pub limits: Vec<Choice>,
}

impl Form {
    fn new(ctx: &Ctx, filter: &Filter) -> Self {
        Self {
            action: ctx.links.events(&Filter::default()),
            reset: ctx.links.events(&Filter::default()),
            action_prefix: filter.action_match == "prefix",
            categories: choices(
                &[
                    ("", "any"),
                    ("authentication", "authentication"),
                    ("authorization", "authorization"),
                    ("business", "business"),
                    ("system", "system"),
                    ("access", "access"),
                ],
                &filter.category,
            ),
            outcomes: choices(
                &[
                    ("", "any"),
                    ("success", "success"),
                    ("failure", "failure"),
                    ("denied", "denied"),
                ],
                &filter.outcome,
            ),
            orders: choices(
                &[("", "newest first"), ("oldest", "oldest first")],
                if filter.order == "oldest" {
                    "oldest"
                } else {
                    ""
                },
            ),
            limits: choices(
                &[("25", "25"), ("", "50"), ("100", "100"), ("200", "200")],
                &filter.limit,
            ),
            filter: filter.without_position(),
        }
    }
}

/// A download link.
pub(crate) struct ExportLink {
    pub label: &'static str,
    pub href: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    chrome: Chrome,
    form: Form,
    error: Option<String>,
    rows: Vec<EventRow>,
    prev: Option<String>,
    next: Option<String>,
    exports: Vec<ExportLink>,
}

/// One page of events and the filters of its neighbours.
pub(crate) struct Paged {
    pub records: Vec<StoredEvent>,
    pub prev: Option<Filter>,
    pub next: Option<Filter>,
}

fn at(filter: &Filter, after: Option<u64>, before: Option<u64>) -> Filter {
    let cursor = |seq: u64| audit_core::query::Cursor::after_seq(seq).to_string();
    Filter {
        after: after.map(cursor).unwrap_or_default(),
        before: before.map(cursor).unwrap_or_default(),
        ..filter.without_position()
    }
}

/// Reads the page `filter` points at, in the view's order, with links both ways.
pub(crate) async fn load(ctx: &Ctx, filter: &Filter) -> Result<Paged, PageError> {
    let (query, direction) = filter.page_query()?;
    let page = ctx.inner.store.query(&query).await?;
    let mut records = page.events;
    let more = page.next.is_some();
    let first = records.first().map(|r| r.seq);
    let last = records.last().map(|r| r.seq);
    let (prev, next) = match direction {
        Direction::Forward => {
            let came_from_a_page = !filter.after.is_empty();
            let prev = match first {
                Some(first) if came_from_a_page => Some(at(filter, None, Some(first))),
                None if came_from_a_page => Some(at(filter, None, None)),
                _ => None,
            };
            (
                prev,
                last.filter(|_| more).map(|l| at(filter, Some(l), None)),
            )
        }
        Direction::Backward => {
            records.reverse();
            // Read backwards, the query's "last" is the displayed first row.
            let prev = last.filter(|_| more).map(|l| at(filter, None, Some(l)));
            let next = match first {
                Some(f) => at(filter, Some(f), None),
                None => at(filter, None, None),
            };
            (prev, Some(next))
        }
    };
    Ok(Paged {
        records,
        prev,
        next,
    })
}

pub(crate) async fn page(ctx: Ctx, Query(filter): Query<Filter>) -> Result<Response, Failure> {
    let exports = if ctx.may(Permission::Export) {
        Download::offered(ctx.inner.reports.is_some())
            .into_iter()
            .map(|(format, label)| ExportLink {
                label,
                href: ctx.links.export(&filter, format.extension()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let form = Form::new(&ctx, &filter);
    let chrome = ctx.chrome("Events", Section::Events);
    match load(&ctx, &filter).await {
        Ok(paged) => {
            record::viewed("events", filter.described());
            let page = EventsPage {
                chrome,
                form,
                error: None,
                rows: EventRow::all(&paged.records, &ctx.links),
                prev: paged.prev.map(|f| ctx.links.events(&f)),
                next: paged.next.map(|f| ctx.links.events(&f)),
                exports,
            };
            Ok(html(&page))
        }
        Err(PageError::BadFilter(err)) => {
            let page = EventsPage {
                chrome,
                form,
                error: Some(err.to_string()),
                rows: Vec::new(),
                prev: None,
                next: None,
                exports: Vec::new(),
            };
            Ok(html_with_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(other) => Err(ctx.fail(other)),
    }
}

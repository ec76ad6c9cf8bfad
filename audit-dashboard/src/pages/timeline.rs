//! `GET /actor?id=…` and `GET /entity?type=…&id=…`: one actor's activity or one entity's
//! history as a timeline, newest first, grouped by day.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;

use crate::errors::{Failure, PageError};
use crate::filter::Filter;
use crate::layout::{Chrome, Section, html};
use crate::page::Ctx;
use crate::pages::events::load;
use crate::record;
use crate::view::EventRow;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Params {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    after: String,
    before: String,
    limit: String,
}

/// The events of one UTC day.
pub(crate) struct Day {
    pub date: String,
    pub rows: Vec<EventRow>,
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    chrome: Chrome,
    subject_kind: &'static str,
    all_events: String,
    days: Vec<Day>,
    prev: Option<String>,
    next: Option<String>,
}

fn by_day(rows: Vec<EventRow>) -> Vec<Day> {
    let mut days: Vec<Day> = Vec::new();
    for row in rows {
        let date = row.time.get(..10).unwrap_or_default().to_owned();
        match days.last_mut() {
            Some(day) if day.date == date => day.rows.push(row),
            _ => days.push(Day {
                date,
                rows: vec![row],
            }),
        }
    }
    days
}

async fn timeline(
    ctx: Ctx,
    filter: Filter,
    page_name: &'static str,
    subject_kind: &'static str,
    subject: String,
    links: impl Fn(&Filter) -> String,
) -> Result<Response, Failure> {
    let paged = load(&ctx, &filter).await.map_err(|e| ctx.fail(e))?;
    record::viewed(page_name, filter.described());
    let page = TimelinePage {
        chrome: ctx.chrome(format!("{subject_kind} {subject}"), Section::Other),
        subject_kind,
        all_events: ctx.links.events(&filter.without_position()),
        days: by_day(EventRow::all(&paged.records, &ctx.links)),
        prev: paged.prev.as_ref().map(&links),
        next: paged.next.as_ref().map(&links),
    };
    Ok(html(&page))
}

fn position(params: &Params, filter: Filter) -> Filter {
    Filter {
        after: params.after.clone(),
        before: params.before.clone(),
        limit: params.limit.clone(),
        ..filter
    }
}

/// Appends the page position of `f` to a timeline's own URL.
fn with_position(url: String, f: &Filter) -> String {
    let pairs = [
        ("after", &f.after),
        ("before", &f.before),
        ("limit", &f.limit),
    ];
    let rest: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    match serde_urlencoded::to_string(rest) {
        Ok(q) if !q.is_empty() => format!("{url}&{q}"),
        _ => url,
    }
}

pub(crate) async fn actor(ctx: Ctx, Query(params): Query<Params>) -> Result<Response, Failure> {
    if params.id.is_empty() {
        return Err(ctx.fail(PageError::BadRequest("actor: give an id".into())));
    }
    let filter = position(
        &params,
        Filter {
            actor: params.id.clone(),
            ..Filter::default()
        },
    );
    let base = ctx.links.actor(&params.id);
    timeline(
        ctx,
        filter,
        "actor_timeline",
        "Actor",
        params.id,
        move |f| with_position(base.clone(), f),
    )
    .await
}

pub(crate) async fn entity(ctx: Ctx, Query(params): Query<Params>) -> Result<Response, Failure> {
    if params.id.is_empty() {
        return Err(ctx.fail(PageError::BadRequest("entity: give an id".into())));
    }
    let filter = position(
        &params,
        Filter {
            entity_type: params.kind.clone(),
            entity_id: params.id.clone(),
            ..Filter::default()
        },
    );
    let base = ctx.links.entity(&params.kind, &params.id);
    let subject = if params.kind.is_empty() {
        params.id.clone()
    } else {
        format!("{} {}", params.kind, params.id)
    };
    timeline(
        ctx,
        filter,
        "entity_timeline",
        "Entity",
        subject,
        move |f| with_position(base.clone(), f),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_is_appended_to_the_timeline_url() {
        let f = Filter {
            after: "c1.a".into(),
            ..Filter::default()
        };
        assert_eq!(
            with_position("/actor?id=a".into(), &f),
            "/actor?id=a&after=c1.a"
        );
        assert_eq!(
            with_position("/actor?id=a".into(), &Filter::default()),
            "/actor?id=a"
        );
    }
}

//! `GET /`: events over time, counts by outcome and category, top actors and actions,
//! failed logins and denials, recent alerts, and the chain's state.

use askama::Template;
use audit_core::AuditStore;
use audit_core::query::{AuditQuery, Order};
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::chart::Chart;
use crate::errors::{Failure, PageError};
use crate::filter::Filter;
use crate::layout::{NavItem, Section, html};
use crate::page::Ctx;
use crate::pages::verify::{VerifyView, running_line};
use crate::record;
use crate::stats::{Freshness, Range};
use crate::view::EventRow;

/// The action code the pipeline's alert rules record.
pub(crate) const ALERT_ACTION: &str = "AUDIT_ALERT_FIRED";
/// How many recent alerts the overview lists.
const RECENT_ALERTS: u32 = 5;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Params {
    range: String,
}

/// A labelled count that links to the events behind it.
pub(crate) struct Count {
    pub label: String,
    pub count: u64,
    pub href: String,
}

pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: crate::layout::Chrome,
    ranges: Vec<NavItem>,
    range_label: &'static str,
    total: u64,
    denials: Count,
    failed_logins: Count,
    outcomes: Vec<Count>,
    categories: Vec<Count>,
    top_actors: Vec<Count>,
    top_actions: Vec<Count>,
    chart: Chart,
    /// The recent alerts (named for the shared event table).
    rows: Vec<EventRow>,
    alerts_href: String,
    head: Option<Head>,
    last_verification: Option<VerifyView>,
    running: Option<String>,
    verify_href: String,
    freshness: String,
}

fn label(range: Range) -> &'static str {
    match range {
        Range::Day => "last 24 hours",
        Range::Week => "last 7 days",
        Range::Month => "last 30 days",
    }
}

pub(crate) async fn page(ctx: Ctx, Query(params): Query<Params>) -> Result<Response, Failure> {
    let range = Range::parse(&params.range).ok_or_else(|| {
        ctx.fail(PageError::BadRequest(
            "range: expected 24h, 7d or 30d".into(),
        ))
    })?;
    let inner = &ctx.inner;
    inner.stats.ensure_started();
    // A few pages of whatever arrived since the last background refresh.
    inner.stats.refresh(2).await.map_err(|e| ctx.fail(e))?;
    let summary = inner.stats.summary(range);
    let links = &ctx.links;
    let events = |filter: Filter| links.events(&filter);

    let alert_query = AuditQuery::new()
        .action(ALERT_ACTION)
        .order(Order::NewestFirst)
        .limit(RECENT_ALERTS);
    let alerts = ctx.query(&alert_query).await?;
    let head = inner.store.head().await.map_err(|e| ctx.fail(e))?;
    let (running, last) = inner.verifier.status().await;

    let count = |label: String, count: u64, filter: Filter| Count {
        label,
        count,
        href: events(filter),
    };
    let page = OverviewPage {
        chrome: ctx.chrome("Overview", Section::Overview),
        ranges: Range::ALL
            .into_iter()
            .map(|r| NavItem {
                label: label(r),
                href: links.overview_range(r.as_str()),
                current: r == range,
            })
            .collect(),
        range_label: label(range),
        total: summary.total,
        denials: count(
            "denials".into(),
            summary.denials,
            Filter {
                outcome: "denied".into(),
                ..Filter::default()
            },
        ),
        failed_logins: count(
            "failed logins".into(),
            summary.failed_logins,
            Filter {
                category: "authentication".into(),
                outcome: "failure".into(),
                ..Filter::default()
            },
        ),
        outcomes: summary
            .by_outcome
            .iter()
            .map(|(o, n)| {
                let filter = Filter {
                    outcome: o.as_str().into(),
                    ..Filter::default()
                };
                count(o.as_str().into(), *n, filter)
            })
            .collect(),
        categories: summary
            .by_category
            .iter()
            .map(|(c, n)| {
                let filter = Filter {
                    category: c.as_str().into(),
                    ..Filter::default()
                };
                count(c.as_str().into(), *n, filter)
            })
            .collect(),
        top_actors: summary
            .top_actors
            .iter()
            .map(|(name, n)| Count {
                label: crate::view::cell(name),
                count: *n,
                href: links.actor(name),
            })
            .collect(),
        top_actions: summary
            .top_actions
            .iter()
            .map(|(name, n)| {
                let filter = Filter {
                    action: name.clone(),
                    ..Filter::default()
                };
                count(crate::view::cell(name), *n, filter)
            })
            .collect(),
        chart: Chart::new(&summary.series, range),
        rows: EventRow::all(&alerts.events, links),
        alerts_href: events(Filter {
            action: ALERT_ACTION.into(),
            ..Filter::default()
        }),
        head: head.map(|h| Head {
            seq: h.seq,
            hash: h.hash.to_hex(),
            href: links.event(h.seq),
        }),
        last_verification: last.as_ref().map(|f| VerifyView::new(f, links)),
        running: running.as_ref().map(running_line),
        verify_href: links.verify(),
        freshness: match summary.freshness {
            Freshness::Building { head: 0, .. } => "Counting has not started yet.".to_owned(),
            Freshness::Building { at, head } => format!(
                "Still counting: events up to seq {at} of {head} are in; the figures grow until \
                 the count is done."
            ),
            Freshness::Current { seq } => format!("Counts include every event up to seq {seq}."),
        },
    };
    record::viewed("overview", json!({ "range": range.as_str() }));
    Ok(html(&page))
}

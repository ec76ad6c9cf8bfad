//! `GET /live`: the newest events, kept current. Without JavaScript the page reloads itself
//! every few seconds (`<noscript>` refresh); with it, the script asks `GET /live/feed` for
//! events after the newest one shown and adds them at the top, building rows with
//! `textContent` only.
//!
//! Opening the live view is recorded once; its polls are part of that one view (recording
//! each poll would fill the log with the viewer's own polling, shown back to them live).

use askama::Template;
use audit_core::query::{Cursor, Order};
use axum::Json;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::errors::{Failure, PageError};
use crate::filter::Filter;
use crate::layout::{Chrome, Section, html};
use crate::page::Ctx;
use crate::record;
use crate::view::EventRow;

/// Rows on the page, and at most this many per poll.
const ROWS: u32 = 50;

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage {
    chrome: Chrome,
    rows: Vec<EventRow>,
    feed: String,
    last_seq: u64,
    poll_ms: u128,
    refresh_seconds: u64,
}

pub(crate) async fn page(ctx: Ctx, Query(filter): Query<Filter>) -> Result<Response, Failure> {
    let filter = filter.without_position();
    let query = filter
        .filters()
        .map_err(|e| ctx.fail(e))?
        .order(Order::NewestFirst)
        .limit(ROWS);
    let page = ctx.query(&query).await?;
    let last_seq = page.events.first().map_or(0, |r| r.seq);
    let qs = filter.query_string();
    let feed = if qs.is_empty() {
        ctx.links.live_feed()
    } else {
        format!("{}?{qs}", ctx.links.live_feed())
    };
    record::viewed("live", filter.described());
    let poll = ctx.inner.live_poll;
    let page = LivePage {
        chrome: ctx.chrome("Live", Section::Live),
        rows: EventRow::all(&page.events, &ctx.links),
        feed,
        last_seq,
        poll_ms: poll.as_millis(),
        refresh_seconds: poll.as_secs().max(5),
    };
    Ok(html(&page))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FeedParams {
    after: String,
    #[serde(flatten)]
    filter: Filter,
}

#[derive(Serialize)]
struct Feed {
    /// Oldest first: the script puts each on top in turn.
    rows: Vec<EventRow>,
    last: u64,
}

pub(crate) async fn feed(ctx: Ctx, Query(params): Query<FeedParams>) -> Result<Response, Failure> {
    let after: u64 = if params.after.is_empty() {
        0
    } else {
        params
            .after
            .parse()
            .map_err(|_| ctx.fail(PageError::BadRequest("after: expected a seq".into())))?
    };
    let query = params
        .filter
        .without_position()
        .filters()
        .map_err(|e| ctx.fail(e))?
        .order(Order::OldestFirst)
        .after(Cursor::after_seq(after))
        .limit(ROWS);
    let page = ctx.query(&query).await?;
    let last = page.events.last().map_or(after, |r| r.seq);
    Ok(Json(Feed {
        rows: EventRow::all(&page.events, &ctx.links),
        last,
    })
    .into_response())
}

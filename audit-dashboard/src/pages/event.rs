//! `GET /events/{seq}`: every field of one event, its metadata as formatted JSON, its place
//! in the chain, and links to the same actor, entity, request and IP.

use askama::Template;
use audit_core::AuditStore;
use axum::extract::Path;
use axum::response::Response;

use crate::errors::{Failure, PageError};
use crate::layout::{Chrome, Section, html};
use crate::page::Ctx;
use crate::record;
use crate::view::EventDetail;

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    detail: EventDetail,
    prev: Option<String>,
    next: Option<String>,
}

pub(crate) async fn page(ctx: Ctx, Path(seq): Path<String>) -> Result<Response, Failure> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| ctx.fail(PageError::BadRequest("an event is named by its seq".into())))?;
    let store = &ctx.inner.store;
    let record = store
        .get(seq)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or_else(|| ctx.fail(PageError::NoSuchEvent(seq)))?;
    let head = store
        .head()
        .await
        .map_err(|e| ctx.fail(e))?
        .map_or(0, |h| h.seq);
    record::viewed_event(seq);
    let page = EventPage {
        chrome: ctx.chrome(format!("Event {seq}"), Section::Other),
        detail: EventDetail::new(&record, &ctx.links),
        prev: (seq > 1).then(|| ctx.links.event(seq - 1)),
        next: (seq < head).then(|| ctx.links.event(seq + 1)),
    };
    Ok(html(&page))
}

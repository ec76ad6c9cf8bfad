//! `GET /events/{seq}`: every field of one event, its metadata as formatted JSON, its place
//! in the chain, and links to the same actor, entity, request and IP.

use askama::Template;
use audit_core::query::{AuditQuery, Cursor, Order};
use audit_core::{AuditStore, StoreError};
use axum::extract::Path;
use axum::response::Response;

use crate::errors::{Failure, PageError};
use crate::layout::{Chrome, Section, html};
use crate::page::Ctx;
use crate::record;
use crate::view::EventDetail;

/// The event before or after this one in the store's view.
struct Neighbour {
    seq: u64,
    href: String,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    detail: EventDetail,
    prev: Option<Neighbour>,
    next: Option<Neighbour>,
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
    let link = |seq: Option<u64>| {
        seq.map(|seq| Neighbour {
            seq,
            href: ctx.links.event(seq),
        })
    };
    let prev = link(
        neighbour(&**store, seq, Order::NewestFirst)
            .await
            .map_err(|e| ctx.fail(e))?,
    );
    let next = link(
        neighbour(&**store, seq, Order::OldestFirst)
            .await
            .map_err(|e| ctx.fail(e))?,
    );
    record::viewed_event(seq);
    let page = EventPage {
        chrome: ctx.chrome(format!("Event {seq}"), Section::Other),
        detail: EventDetail::new(&record, &ctx.links),
        prev,
        next,
    };
    Ok(html(&page))
}

/// The seq of the stored event next to `seq` in `order` (`NewestFirst`: the one before),
/// as the store shows it: a tenant's view skips other tenants' events, and an archived
/// range is skipped too.
async fn neighbour(
    store: &dyn AuditStore,
    seq: u64,
    order: Order,
) -> Result<Option<u64>, StoreError> {
    let query = AuditQuery::new()
        .order(order)
        .limit(1)
        .after(Cursor::after_seq(seq));
    Ok(store.query(&query).await?.events.first().map(|r| r.seq))
}

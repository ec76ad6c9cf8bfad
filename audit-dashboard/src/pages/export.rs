//! `GET /export?format=csv|jsonl&…filter`: the current filter as CSV or JSON Lines,
//! streamed in constant memory.
//!
//! A task reads keyset pages of [`PAGE`] records, feeds them to audit-core's
//! [`Exporter`](audit_core::export::Exporter) (the same encoders as every other export:
//! formula injection neutralised in CSV), and hands the encoded bytes to the response body
//! through a channel of [`CHUNKS`] chunks, so a slow client slows the reading instead of
//! filling memory. When the stream ends (done, client gone, or store error) the export is
//! recorded as `AUDIT_LOG_EXPORTED` with the filter, the format and the rows sent.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use audit_core::AuditStore;
use audit_core::export::{ExportFormat, Exporter};
use audit_core::query::Cursor;
use axum::body::Body;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::errors::{Failure, PageError};
use crate::filter::Filter;
use crate::page::Ctx;
use crate::record;

/// Records read per store query.
const PAGE: u32 = 1000;
/// Encoded chunks buffered between the reader and the client.
const CHUNKS: usize = 4;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Params {
    format: String,
    #[serde(flatten)]
    filter: Filter,
}

/// Where the exporter writes: taken out after each page and sent as one chunk.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Chunk = Result<Bytes, std::io::Error>;

pub(crate) async fn download(ctx: Ctx, Query(params): Query<Params>) -> Result<Response, Failure> {
    let format: ExportFormat =
        params
            .format
            .parse()
            .map_err(|e: audit_core::export::UnknownFormat| {
                ctx.fail(PageError::BadRequest(e.to_string()))
            })?;
    let filter = params.filter.without_position();
    let query = filter
        .filters()
        .map_err(|e| ctx.fail(e))?
        .order(filter.order())
        .limit(PAGE);
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHUNKS);
    let store = ctx.inner.store.clone();
    let described = filter.described();
    // Carries the viewer's audit context into the task, so the export is recorded as theirs.
    audit_core::context::spawn(async move {
        let (rows, complete) = pump(store, query, format, &tx).await;
        record::exported(format.extension(), described, rows, complete);
    });
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let name = format!(
        "audit-{}.{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    Ok((
        [
            (CONTENT_TYPE, format.content_type().to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Reads every matching record page by page into `tx`. Returns the rows sent and whether
/// the export reached its end.
async fn pump(
    store: Arc<dyn AuditStore>,
    mut query: audit_core::AuditQuery,
    format: ExportFormat,
    tx: &mpsc::Sender<Chunk>,
) -> (u64, bool) {
    let out = Shared::default();
    let mut exporter = Exporter::new(format, out.clone());
    loop {
        let page = match store.query(&query).await {
            Ok(page) => page,
            Err(err) => {
                tracing::error!(error = %err, "audit dashboard: export failed reading the store");
                let _ = tx
                    .send(Err(std::io::Error::other("the audit store failed")))
                    .await;
                return (exporter.written(), false);
            }
        };
        for record in &page.events {
            if let Err(err) = exporter.push(record) {
                tracing::error!(error = %err, "audit dashboard: export encoding failed");
                return (exporter.written(), false);
            }
        }
        let chunk = out.take();
        if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            // The client went away.
            return (exporter.written(), false);
        }
        match (page.next, page.events.last()) {
            (Some(_), Some(last)) => query = query.after(Cursor::after_seq(last.seq)),
            _ => break,
        }
    }
    let rows = exporter.written();
    if let Err(err) = exporter.finish() {
        tracing::error!(error = %err, "audit dashboard: export encoding failed");
        return (rows, false);
    }
    let tail = out.take();
    if !tail.is_empty() && tx.send(Ok(Bytes::from(tail))).await.is_err() {
        return (rows, false);
    }
    (rows, true)
}

//! `GET /export?format=csv|jsonl|xlsx|pdf&…filter`: the current filter as CSV or JSON
//! Lines, streamed in constant memory, or as audit-report's Excel workbook or PDF report
//! (when the host enabled reports with [`Dashboard::reports`](crate::Dashboard::reports)).
//!
//! A task reads keyset pages of [`PAGE`] records, feeds them to audit-core's
//! [`Exporter`](audit_core::export::Exporter) (the same encoders as every other export:
//! formula injection neutralised in CSV), and hands the encoded bytes to the response body
//! through a channel of [`CHUNKS`] chunks, so a slow client slows the reading instead of
//! filling memory. When the stream ends (done, client gone, or store error) the export is
//! recorded as `AUDIT_LOG_EXPORTED` with the filter, the format and the rows sent.
//!
//! A report is written by audit-report (constant memory for the workbook, the PDF's memory
//! growing with its pages) into an anonymous temporary file, which is then streamed the same
//! way: its verification statement covers the exported range, so the whole range is read
//! before the first byte goes out.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use audit_core::AuditStore;
use audit_core::export::{ExportFormat, Exporter};
use audit_core::query::Cursor;
use audit_report::pdf::PdfOptions;
use audit_report::{Report, ReportRequest};
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

/// What `/export` can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Download {
    /// Rows through audit-core's exporter.
    Rows(ExportFormat),
    /// An Excel workbook (audit-report).
    Xlsx,
    /// A PDF report (audit-report).
    Pdf,
}

impl Download {
    /// Every format offered, with its label: the reports only when the host enabled them.
    pub(crate) fn offered(reports: bool) -> Vec<(Self, &'static str)> {
        let mut offered = vec![
            (Self::Rows(ExportFormat::Csv), "CSV"),
            (Self::Rows(ExportFormat::JsonLines), "JSON Lines"),
        ];
        if reports {
            offered.extend([(Self::Xlsx, "Excel"), (Self::Pdf, "PDF report")]);
        }
        offered
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Rows(format) => format.extension(),
            Self::Xlsx => "xlsx",
            Self::Pdf => "pdf",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Rows(format) => format.content_type(),
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Pdf => "application/pdf",
        }
    }

    fn parse(text: &str, reports: bool) -> Result<Self, PageError> {
        Self::offered(reports)
            .into_iter()
            .map(|(download, _)| download)
            .find(|download| download.extension() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::offered(reports)
                    .into_iter()
                    .map(|(d, _)| d.extension())
                    .collect();
                PageError::BadRequest(format!(
                    "unknown export format {text:?}: use {}",
                    names.join(", ")
                ))
            })
    }
}

pub(crate) async fn download(ctx: Ctx, Query(params): Query<Params>) -> Result<Response, Failure> {
    let reports = ctx.inner.reports.clone();
    let format = Download::parse(&params.format, reports.is_some()).map_err(|e| ctx.fail(e))?;
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
        let (rows, complete) = match (format, reports) {
            (Download::Rows(rows), _) => pump(store, query, rows, &tx).await,
            (report, Some(hasher)) => write_report(store, query, report, &hasher, &tx).await,
            (_, None) => (0, false),
        };
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

/// Writes the report of `query` into a temporary file, then sends the file into `tx`.
/// Returns the rows listed and whether the report reached the client whole.
async fn write_report(
    store: Arc<dyn AuditStore>,
    query: audit_core::AuditQuery,
    format: Download,
    hasher: &audit_core::ChainHasher,
    tx: &mpsc::Sender<Chunk>,
) -> (u64, bool) {
    let failed = |what: &str, err: &dyn std::fmt::Display| {
        tracing::error!(error = %err, "audit dashboard: report {what} failed");
        std::io::Error::other("the report could not be written")
    };
    let written = async {
        let request = ReportRequest::new("Audit log export", query, hasher);
        let report = Report::gather(&*store, request)
            .await
            .map_err(|e| failed("gathering", &e))?;
        let file = tempfile::tempfile().map_err(|e| failed("file", &e))?;
        let (file, rows) = match format {
            Download::Pdf => {
                audit_report::pdf::write(&*store, &report, file, &PdfOptions::default(), &()).await
            }
            _ => audit_report::xlsx::write(&*store, &report, file, &()).await,
        }
        .map_err(|e| failed("writing", &e))?;
        Ok::<_, std::io::Error>((file, rows))
    };
    let (file, rows) = match written.await {
        Ok(done) => done,
        Err(err) => {
            let _ = tx.send(Err(err)).await;
            return (0, false);
        }
    };
    (rows, send_file(file, tx).await)
}

/// Sends `file` from its start into `tx` in chunks; whether all of it went.
async fn send_file(mut file: std::fs::File, tx: &mpsc::Sender<Chunk>) -> bool {
    use std::io::{Read, Seek};
    if file.rewind().is_err() {
        return false;
    }
    loop {
        let mut chunk = vec![0u8; 64 * 1024];
        // A local file: reads are short and bounded; the channel paces them to the client.
        let n = match file.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => n,
            Err(err) => {
                let _ = tx.send(Err(err)).await;
                return false;
            }
        };
        chunk.truncate(n);
        if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            return false;
        }
    }
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

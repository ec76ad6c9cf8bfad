//! Streaming export of matching records as JSON Lines or CSV.

use std::io::Write;

use audit_core::export::{ExportFormat, Exporter};
use audit_core::query::{AuditQuery, MAX_PAGE_SIZE};

use crate::error::Result;
use super::store::PgStore;

impl PgStore {
    /// Writes every record matching `query`'s filters to `writer` in `format`, in the query's
    /// order, fetching [`MAX_PAGE_SIZE`] rows per round trip (memory stays bounded whatever the
    /// log's size). `query`'s limit and cursor are ignored: the export covers all matches.
    /// Returns the writer and how many records were written.
    ///
    /// `writer` is a blocking [`Write`]; give it a buffered file or an in-memory buffer (the
    /// exporter buffers its own output as well).
    pub async fn export<W: Write>(
        &self,
        query: &AuditQuery,
        format: ExportFormat,
        writer: W,
    ) -> Result<(W, u64)> {
        let mut exporter = Exporter::new(format, writer);
        let mut q = query.clone().limit(MAX_PAGE_SIZE);
        q.cursor = None;
        loop {
            let page = self.query_page(&q).await?;
            for record in &page.events {
                exporter.push(record)?;
            }
            match page.next {
                Some(cursor) => q = q.after(cursor),
                None => break,
            }
        }
        let written = exporter.written();
        Ok((exporter.finish()?, written))
    }
}

//! Streaming export of matching records as JSON Lines or CSV.

use std::io::Write;

use audit_core::export::ExportFormat;
use audit_core::query::AuditQuery;

use super::store::PgStore;
use crate::error::Result;
use crate::read;

impl PgStore {
    /// Writes every record matching `query`'s filters to `writer` in `format`, in the query's
    /// order, fetching [`MAX_PAGE_SIZE`](audit_core::query::MAX_PAGE_SIZE) rows per round
    /// trip (memory stays bounded whatever the log's size). `query`'s limit and cursor are
    /// ignored: the export covers all matches. Returns the writer and how many records were
    /// written.
    ///
    /// `writer` is a blocking [`Write`]; give it a buffered file or an in-memory buffer (the
    /// exporter buffers its own output as well).
    pub async fn export<W: Write>(
        &self,
        query: &AuditQuery,
        format: ExportFormat,
        writer: W,
    ) -> Result<(W, u64)> {
        read::export(self, query, format, writer).await
    }
}

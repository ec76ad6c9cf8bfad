//! Export of a query's result as JSON Lines or CSV, streamed row by row.

use std::io::Write;

use audit_core::export::{ExportFormat, Exporter};
use audit_core::query::AuditQuery;

use crate::error::{Error, Result};
use crate::reader::blocking;
use crate::store::SqliteStore;

impl SqliteStore {
    /// Writes every record matching `query` (in its order, from its cursor on, ignoring its
    /// page size) to `writer` as `format`, on one consistent snapshot, holding one record at
    /// a time: memory stays constant whatever the size. Returns the record count and the
    /// writer. Blocking: from async code use [`export`](Self::export).
    ///
    /// CSV cells that a spreadsheet would run as a formula are escaped (see
    /// [`audit_core::export`]).
    ///
    /// ```
    /// use audit_core::{AuditEvent, AuditQuery, export::ExportFormat};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let store = audit_sqlite::SqliteStore::open(dir.path().join("audit.db"))?;
    /// store.append(&[AuditEvent::builder("USER_LOGIN").description("=1+1").build()]).await?;
    /// let (count, csv) = store.export_blocking(&AuditQuery::new(), ExportFormat::Csv, Vec::new())?;
    /// assert_eq!(count, 1);
    /// assert!(String::from_utf8(csv)?.contains("'=1+1"));
    /// # Ok(()) }
    /// ```
    pub fn export_blocking<W: Write>(
        &self,
        query: &AuditQuery,
        format: ExportFormat,
        writer: W,
    ) -> Result<(u64, W)> {
        let mut exporter = Exporter::new(format, writer);
        let count =
            self.for_each_blocking(query, |record| exporter.push(record).map_err(Error::from))?;
        Ok((count, exporter.finish()?))
    }

    /// [`export_blocking`](Self::export_blocking) run off the async runtime's threads.
    ///
    /// To stream an HTTP response, pass a writer that forwards each chunk to the response
    /// body (for example through a bounded channel with `blocking_send`): backpressure then
    /// holds the export, and memory stays constant.
    pub async fn export<W: Write + Send + 'static>(
        &self,
        query: AuditQuery,
        format: ExportFormat,
        writer: W,
    ) -> Result<(u64, W)> {
        let store = self.clone();
        blocking(move || store.export_blocking(&query, format, writer)).await
    }
}

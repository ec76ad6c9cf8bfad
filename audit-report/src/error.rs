//! The error type of report writing.

use audit_core::StoreError;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The store could not be read.
    #[error("reading the audit store failed: {0}")]
    Store(#[from] StoreError),
    /// Writing the output failed.
    #[error("writing the report failed: {0}")]
    Io(#[from] std::io::Error),
    /// The Excel writer failed.
    #[error("writing the Excel workbook failed: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// The PDF writer failed.
    #[error("writing the PDF failed: {0}")]
    Pdf(String),
    /// No usable font was found, or the given one could not be read.
    #[error("{0}")]
    Font(String),
    /// The background writer task stopped unexpectedly.
    #[error("the report writer task failed: {0}")]
    Task(String),
}

/// `Result` with [`ReportError`].
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

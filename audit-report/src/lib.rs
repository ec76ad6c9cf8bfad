//! # audit-report
//!
//! Reports of an audit log that people read and sign off: an Excel workbook ([`xlsx`]) and
//! a PDF ([`pdf`]), made from any [`AuditStore`](audit_core::AuditStore) for one
//! [`AuditQuery`](audit_core::AuditQuery), each with the verification statement of the
//! listed range. The command line (`audit export --format xlsx|pdf`) and the dashboard use
//! this crate.
//!
//! ```
//! use audit_core::{Actor, AuditEvent, AuditQuery};
//! use audit_report::{Report, ReportRequest, pdf::PdfOptions};
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = audit_sqlite::SqliteStore::open(dir.path().join("audit.db"))?;
//! store.append(&[AuditEvent::builder("AUTHN_LOGIN_FAIL").actor(Actor::anonymous("mallory")).build()]).await?;
//!
//! // 1. The model: filters, counts, highlights, and the chain verified over the range.
//! let request = ReportRequest::new("Logins", AuditQuery::new().action_prefix("AUTHN_"), store.hasher());
//! let report = Report::gather(&store, request).await?;
//! assert!(report.verification.is_valid());
//!
//! // 2. Either format streams the listing from the store, page by page.
//! let xlsx = std::fs::File::create(dir.path().join("logins.xlsx"))?;
//! let (_, rows) = audit_report::xlsx::write(&store, &report, xlsx, &()).await?;
//! assert_eq!(rows, 1);
//! # if audit_report::pdf::font::FontFiles::discover().is_ok() {
//! let pdf = std::fs::File::create(dir.path().join("logins.pdf"))?;
//! audit_report::pdf::write(&store, &report, pdf, &PdfOptions::default(), &()).await?;
//! # }
//! # Ok(()) }
//! ```
//!
//! ## What a report holds
//!
//! [`Report::gather`] reads, for the query: the range of matching events (first and last
//! `seq`; the listing stops at the last one, so events written meanwhile stay out), counts
//! by outcome, action, actor and UTC day (aggregated by the store: memory is bounded by the
//! distinct keys, not the events), the newest failed logins, denials and fired alerts, and a
//! verification of the chain over the range with the algorithm and a fingerprint of the HMAC
//! key ([`ChainInfo`]). The writers then read the listing in keyset pages of
//! [`MAX_PAGE_SIZE`](audit_core::query::MAX_PAGE_SIZE) on the async side and encode it on a
//! blocking thread, a few pages in flight.
//!
//! ## Excel
//!
//! Sheets `Summary`, `Events` and `Verification` ([`xlsx::SHEETS`]); see [`xlsx`] for
//! types, formats and the constant-memory mode. No cell is ever a formula.
//!
//! ## PDF
//!
//! A4 landscape, set in DejaVu Sans (or Liberation Sans) read from the files Debian's
//! `fonts-dejavu-core` / `fonts-liberation` install, subset and embedded; nothing is
//! downloaded, and the crate builds without the fonts (writing a PDF then fails with a
//! [`ReportError::Font`] that names the package). See [`pdf`] for the layout, the choice of
//! krilla over printpdf (measured), and memory.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod model;
pub mod pdf;
mod rows;
pub mod xlsx;

pub use error::{ReportError, Result};
pub use model::{
    ChainInfo, DEFAULT_HIGHLIGHT_ROWS, Highlight, Report, ReportRequest, SeqRange, Summary,
    Verification, fault_name,
};
pub use rows::Progress;

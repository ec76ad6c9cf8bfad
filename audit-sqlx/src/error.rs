//! The crate's error type and its mapping onto the audit-core error contracts.

use audit_core::{SinkError, StoreError, ValidationError};

/// Why an audit-sqlx operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schema name is not a plain lowercase SQL identifier.
    #[error(
        "invalid schema name {0:?}: use 1-63 characters of a-z, 0-9 and _, starting with a letter or _"
    )]
    InvalidSchemaName(String),
    /// PostgreSQL could not be reached or answered with an error.
    #[error("PostgreSQL error: {0}")]
    Database(#[from] sqlx_core::Error),
    /// The database holds a schema this library does not know, or a different chain setup.
    #[error("audit schema problem: {0}")]
    Schema(String),
    /// An event failed validation; nothing was written.
    #[error("invalid audit event: {0}")]
    Invalid(#[from] ValidationError),
    /// An event's metadata cannot be stored as `jsonb` (PostgreSQL refuses `\u0000` in text).
    #[error("metadata cannot be stored as jsonb: {0}")]
    Metadata(String),
    /// A stored row could not be decoded.
    #[error("stored record {seq} is corrupt: {message}")]
    Corrupt {
        /// The record's seq.
        seq: u64,
        /// What could not be decoded.
        message: String,
    },
    /// The request itself is invalid (a bad range, a bad cursor).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Writing an export failed.
    #[error("export I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding or writing an export failed.
    #[error(transparent)]
    Export(#[from] audit_core::export::ExportError),
    /// Writing an archive failed, or the range to archive does not verify.
    #[error(transparent)]
    Archive(#[from] audit_core::archive::ArchiveError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether retrying the same operation later may succeed (connection trouble, a
    /// serialization failure, a deadlock) rather than fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(err) => is_transient_db(err),
            Self::Io(_) => true,
            _ => false,
        }
    }
}

fn is_transient_db(err: &sqlx_core::Error) -> bool {
    use sqlx_core::Error as E;
    match err {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Protocol(_) => true,
        E::Database(db) => {
            // Class 08 connection exceptions, 40 transaction rollback (serialization failure,
            // deadlock), 53 insufficient resources, 57 operator intervention (shutdown).
            db.code().is_some_and(|code| {
                ["08", "40", "53", "57"]
                    .iter()
                    .any(|class| code.starts_with(class))
            })
        }
        _ => false,
    }
}

impl From<Error> for SinkError {
    fn from(err: Error) -> Self {
        if err.is_transient() {
            SinkError::unavailable("PostgreSQL audit store unavailable", err)
        } else {
            SinkError::rejected("PostgreSQL audit store refused the batch", err)
        }
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        match err {
            Error::Schema(message) => StoreError::Schema(message),
            Error::Corrupt { seq, message } => StoreError::Corrupt { seq, message },
            Error::InvalidRequest(message) => StoreError::InvalidRequest(message),
            Error::Io(io) | Error::Archive(audit_core::archive::ArchiveError::Io(io)) => {
                StoreError::Io(io)
            }
            Error::Archive(archive) => StoreError::InvalidRequest(archive.to_string()),
            other => StoreError::backend("PostgreSQL audit store error", other),
        }
    }
}

//! The crate's error type (one for every backend) and its mapping onto the audit-core error
//! contracts.

use audit_core::{SinkError, StoreError, ValidationError};

/// Why an audit-sqlx operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema, database or table-prefix name is not a plain lowercase SQL identifier.
    #[error(
        "invalid {kind} {name:?}: use at most {max_len} characters of a-z, 0-9 and _, starting \
         with a letter or _{extra}"
    )]
    InvalidName {
        /// What the name is for (`"schema name"`, `"database name"`, `"table prefix"`).
        kind: &'static str,
        /// The name given (truncated to 80 characters).
        name: String,
        /// Its longest allowed length in bytes.
        max_len: usize,
        /// A backend-specific rule it also broke, as a clause (or empty).
        extra: &'static str,
    },
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx_core::Error),
    /// The database holds a schema this library does not know, or a different chain setup.
    #[error("audit schema problem: {0}")]
    Schema(String),
    /// An event failed validation; nothing was written.
    #[error("invalid audit event: {0}")]
    Invalid(#[from] ValidationError),
    /// An event's metadata cannot be brought into the form the database gives back (a number
    /// PostgreSQL's `numeric` cannot print); nothing was written.
    #[error("metadata cannot be stored: {0}")]
    Metadata(String),
    /// An event holds a value this database's column type cannot represent (a time outside
    /// MySQL's `DATETIME` range); nothing was written.
    #[error("field `{field}` cannot be stored: {reason}")]
    Unstorable {
        /// The field's name.
        field: &'static str,
        /// Why not.
        reason: String,
    },
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
    /// The store's own runtime (the thread its connections live on) could not be started.
    #[error("cannot start the store's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether retrying the same operation later may succeed (connection trouble, a
    /// serialization failure, a deadlock, a lock wait timeout) rather than fail the same way
    /// again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(err) => crate::retry::is_transient(err),
            Self::Io(_) => true,
            _ => false,
        }
    }
}

impl From<Error> for SinkError {
    fn from(err: Error) -> Self {
        if err.is_transient() {
            SinkError::unavailable("SQL audit store unavailable", err)
        } else {
            SinkError::rejected("SQL audit store refused the batch", err)
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
            other => StoreError::backend("SQL audit store error", other),
        }
    }
}

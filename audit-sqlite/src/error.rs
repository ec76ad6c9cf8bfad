//! The error type of this crate and its mapping onto audit-core's errors.

use std::path::PathBuf;

use audit_core::archive::ArchiveError;
use audit_core::chain::ChainFault;
use audit_core::{SinkError, StoreError, ValidationError};
use rusqlite::ffi::ErrorCode;

/// Everything that can go wrong in `audit-sqlite`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not an SQLite database (random bytes, an encrypted file, a text file).
    #[error("{path}: not an SQLite database (or it is encrypted or damaged)")]
    NotADatabase {
        /// The file that was opened.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is an SQLite database, but its audit tables were not created by this library.
    #[error("{path}: not an audit-sqlite store: {detail}")]
    Foreign {
        /// The file that was opened.
        path: PathBuf,
        /// What does not fit.
        detail: String,
    },
    /// The file was written by a newer version of this library.
    #[error(
        "audit schema version {found} is newer than this library supports ({supported}); \
         upgrade audit-sqlite to open it"
    )]
    SchemaTooNew {
        /// The version found in the file.
        found: u32,
        /// The newest version this library knows.
        supported: u32,
    },
    /// SQLite reports the file as damaged.
    #[error("the audit database is damaged: {0}")]
    Corrupt(#[source] rusqlite::Error),
    /// The store was created with another chain algorithm or HMAC key than the one configured.
    #[error(
        "the configured chain hasher ({configured}) is not the one this store was created with \
         ({stored}); a wrong key would write an unverifiable chain"
    )]
    HasherMismatch {
        /// The algorithm recorded in the store.
        stored: String,
        /// The algorithm configured now.
        configured: String,
    },
    /// An event was refused because it is invalid; nothing of its batch was written.
    #[error("event {index} of the batch is invalid: {source}")]
    InvalidEvent {
        /// Its position in the batch.
        index: usize,
        /// Why.
        #[source]
        source: ValidationError,
    },
    /// Another writer held the database lock for longer than the busy timeout.
    #[error("the audit database stayed locked by another writer: {0}")]
    Busy(#[source] rusqlite::Error),
    /// Any other SQLite error.
    #[error("SQLite error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// A stored record could not be decoded.
    #[error("stored record {seq} is corrupt: {message}")]
    CorruptRecord {
        /// Its seq.
        seq: u64,
        /// What could not be decoded.
        message: String,
    },
    /// Archival stopped because the chain in the range to archive does not verify; deleting
    /// it would destroy the evidence.
    #[error("refusing to archive a range whose chain does not verify: {0}")]
    ChainBroken(#[source] ChainFault),
    /// An archive file is not in the expected format.
    #[error("invalid archive file: {0}")]
    InvalidArchive(String),
    /// An export could not be written.
    #[error("export failed: {0}")]
    Export(#[from] audit_core::export::ExportError),
    /// Reading or writing a file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The request itself is invalid.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The writer thread is gone (the store is shutting down, or the thread panicked).
    #[error("the audit writer thread has stopped")]
    WriterStopped,
    /// A blocking task could not be run or was cancelled.
    #[error("a blocking task failed: {0}")]
    Task(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy(err),
            Some(ErrorCode::DatabaseCorrupt) => Self::Corrupt(err),
            _ => Self::Sqlite(err),
        }
    }
}

impl From<ArchiveError> for Error {
    fn from(err: ArchiveError) -> Self {
        match err {
            ArchiveError::Io(io) => Self::Io(io),
            ArchiveError::Exists(_) => Self::InvalidRequest(err.to_string()),
            ArchiveError::ChainBroken(fault) => Self::ChainBroken(fault),
            ArchiveError::HasherMismatch { stored, configured } => {
                Self::HasherMismatch { stored, configured }
            }
            other => Self::InvalidArchive(other.to_string()),
        }
    }
}

impl Error {
    pub(crate) fn corrupt_record(seq: u64, message: impl Into<String>) -> Self {
        Self::CorruptRecord {
            seq,
            message: message.into(),
        }
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        match err {
            Error::SchemaTooNew { .. } | Error::Foreign { .. } | Error::HasherMismatch { .. } => {
                StoreError::Schema(err.to_string())
            }
            Error::CorruptRecord { seq, message } => StoreError::Corrupt { seq, message },
            Error::InvalidRequest(message) => StoreError::InvalidRequest(message),
            Error::Io(io) => StoreError::Io(io),
            other => StoreError::backend(other.to_string(), other),
        }
    }
}

impl From<Error> for SinkError {
    fn from(err: Error) -> Self {
        match err {
            Error::Io(io) => SinkError::Io(io),
            Error::Busy(_) | Error::Task(_) => SinkError::unavailable(err.to_string(), err),
            Error::WriterStopped => SinkError::Closed,
            Error::Sqlite(ref inner) if is_transient(inner) => {
                SinkError::unavailable(err.to_string(), err)
            }
            other => SinkError::rejected(other.to_string(), other),
        }
    }
}

fn is_transient(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::OutOfMemory
                | ErrorCode::CannotOpen
                | ErrorCode::FileLockingProtocolFailed
        )
    )
}

//! Errors, each with the exit status scripts can rely on.

use std::process::ExitCode;

/// The documented exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: the chain or an archive does not verify.
    Fault,
    /// 2: a bad argument or URL (clap's own usage errors also exit 2).
    Usage,
    /// 3: anything else: a missing file, the database, a wrong key, a newer schema, I/O.
    Failure,
    /// 130: interrupted by Ctrl-C or SIGTERM (nothing half-written was left behind).
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Fault => 1,
            Self::Usage => 2,
            Self::Failure => 3,
            Self::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// A failed command: one line for stderr and the exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// The exit status.
    pub exit: Exit,
    /// One line saying what went wrong, for people.
    pub message: String,
}

impl CliError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// Any other failure (exit 3).
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failure,
            message: message.into(),
        }
    }

    /// A verification fault (exit 1).
    pub fn fault(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Fault,
            message: message.into(),
        }
    }

    /// Interrupted (exit 130).
    pub fn interrupted() -> Self {
        Self {
            exit: Exit::Interrupted,
            message: "interrupted; no partial output was left".into(),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        Self::failure(format!("I/O error: {err}"))
    }
}

impl From<audit_core::StoreError> for CliError {
    fn from(err: audit_core::StoreError) -> Self {
        match err {
            audit_core::StoreError::InvalidRequest(message) => Self::usage(message),
            audit_core::StoreError::Tenant(refusal) => Self::usage(refusal.to_string()),
            other => Self::failure(one_line(&other)),
        }
    }
}

impl From<audit_report::ReportError> for CliError {
    fn from(err: audit_report::ReportError) -> Self {
        match err {
            audit_report::ReportError::Store(store) => store.into(),
            other => Self::failure(one_line(&other)),
        }
    }
}

impl From<audit_core::export::ExportError> for CliError {
    fn from(err: audit_core::export::ExportError) -> Self {
        Self::failure(one_line(&err))
    }
}

/// An error and its sources on one line (`a: b: c`), without repeating a source that the
/// message already contains.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

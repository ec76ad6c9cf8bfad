//! How an error is recorded: the [`AuditOutcome`] an error type implements once, so that
//! every `#[audited]` function failing with it records the same outcome and reason.
//!
//! Without it, a returned `Err(e)` is a `failure` whose reason is `e`'s `Display` text. An
//! error type whose variants mean different things to an auditor (an access-control refusal
//! is `denied`, not a `failure`; two conflicts deserve two reasons) says so here:
//!
//! ```
//! use audit_core::{AuditOutcome, Outcome, audited, testing};
//!
//! #[derive(Debug)]
//! enum ApiError {
//!     Forbidden,
//!     Conflict(&'static str),
//!     Database,
//! }
//!
//! impl std::fmt::Display for ApiError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         // What the client is told.
//!         f.write_str(match self {
//!             Self::Forbidden => "forbidden",
//!             Self::Conflict(_) => "error in the request body",
//!             Self::Database => "internal error",
//!         })
//!     }
//! }
//!
//! impl AuditOutcome for ApiError {
//!     fn audit_outcome(&self) -> Outcome {
//!         match self {
//!             Self::Forbidden => Outcome::Denied,
//!             _ => Outcome::Failure,
//!         }
//!     }
//!
//!     fn audit_reason(&self) -> String {
//!         match self {
//!             // What the auditor is told.
//!             Self::Conflict(what) => format!("conflict: {what}"),
//!             other => other.to_string(),
//!         }
//!     }
//! }
//!
//! #[audited("ARTICLE_DELETED")]
//! fn delete_article(slug: &str) -> Result<(), ApiError> {
//!     if slug == "mine" { Ok(()) } else { Err(ApiError::Forbidden) }
//! }
//!
//! #[audited("ARTICLE_CREATED")]
//! fn create_article(slug: &str) -> Result<(), ApiError> {
//!     Err(ApiError::Conflict("slug already taken"))
//! }
//!
//! let (_, captured) = testing::capture(|| {
//!     let _ = delete_article("yours");
//!     let _ = create_article("hello");
//! });
//! let [deleted, created] = captured.events() else { panic!() };
//! assert_eq!(deleted.outcome, Outcome::Denied);
//! assert_eq!(deleted.reason.as_deref(), Some("forbidden"));
//! assert_eq!(created.outcome, Outcome::Failure);
//! assert_eq!(created.reason.as_deref(), Some("conflict: slug already taken"));
//! ```
//!
//! The `outcome = ..` and `reason = ..` options of `#[audited]` decide for one function and
//! win over the error type's choice.

use std::fmt::Display;

use crate::event::Outcome;

/// What a failed call's error means to an auditor: its [`Outcome`] and its reason.
///
/// Implement it for an error type and every `#[audited]` function returning
/// `Result<_, ThatError>` records it accordingly, with no option to repeat; see the
/// [module docs](self). Both methods have defaults: a `failure` with the `Display` text.
pub trait AuditOutcome: Display {
    /// The outcome recorded when a call fails with this error (default: `failure`).
    /// `Outcome::Success` records the call as a success (an error that is not one to an
    /// auditor, such as "nothing to do").
    fn audit_outcome(&self) -> Outcome {
        Outcome::Failure
    }

    /// The reason recorded (default: the `Display` text). It is capped at
    /// [`MAX_TEXT_LEN`](crate::validate::MAX_TEXT_LEN) and redacted like any reason.
    fn audit_reason(&self) -> String {
        self.to_string()
    }
}

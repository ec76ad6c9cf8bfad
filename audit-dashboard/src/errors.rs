//! Why a page could not be shown, and the error page that says so.

use askama::Template;
use audit_core::StoreError;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::csrf::CsrfError;
use crate::filter::FilterError;
use crate::layout::{Chrome, html_with_status};

/// What went wrong while serving a page.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    /// A filter field could not be understood.
    #[error("{0}")]
    BadFilter(#[from] FilterError),
    /// A request parameter other than a filter is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// No such event.
    #[error("there is no event with seq {0}")]
    NoSuchEvent(u64),
    /// A form without a valid CSRF token, or from another site.
    #[error("{0}")]
    Csrf(#[from] CsrfError),
    /// The store answered with an error (the detail goes to the server's log only).
    #[error("the audit store could not be read")]
    Store(#[from] StoreError),
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadFilter(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NoSuchEvent(_) => StatusCode::NOT_FOUND,
            Self::Csrf(_) => StatusCode::FORBIDDEN,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: &'a Chrome,
    status: u16,
    reason: &'static str,
    message: String,
    sign_in: Option<&'a str>,
}

/// A page error with the chrome to show it in.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) chrome: Chrome,
    pub(crate) error: PageError,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if let PageError::Store(source) = &self.error {
            tracing::error!(error = %source, "audit dashboard: store error");
        }
        let status = self.error.status();
        error_page(&self.chrome, status, self.error.to_string(), None)
    }
}

/// The error page for `status`, with an optional sign-in link (on 401).
pub(crate) fn error_page(
    chrome: &Chrome,
    status: StatusCode,
    message: String,
    sign_in: Option<&str>,
) -> Response {
    let page = ErrorPage {
        chrome,
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
        sign_in,
    };
    html_with_status(status, &page)
}

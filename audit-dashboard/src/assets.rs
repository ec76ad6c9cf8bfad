//! The stylesheet and the script, embedded in the binary and served as static files.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};

const STYLESHEET: &str = include_str!("../static/dashboard.css");
const SCRIPT: &str = include_str!("../static/dashboard.js");

/// The asset version in every link, so a new release is fetched despite caching.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /static/{name}`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "dashboard.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "dashboard.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

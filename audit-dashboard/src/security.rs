//! The response headers every dashboard answer carries.
//!
//! No page has inline script or style, so the policy can be strict: everything from the
//! dashboard's own origin only, no framing, no plugins, no `<base>` rewriting, forms posting
//! only back to the dashboard.

use axum::response::Response;
use http::HeaderValue;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};

/// The Content-Security-Policy of every dashboard response.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'; object-src 'none'";

/// The referrer policy is `same-origin`, not `no-referrer`: under `no-referrer` browsers
/// send `Origin: null` with form posts, and the CSRF check could no longer tell the
/// dashboard's own forms from another site's (seen in Chromium).
///
/// Adds the dashboard's security headers to a response: the strict CSP, `nosniff`,
/// `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`, and `Cache-Control: no-store`
/// unless the response set its own caching. The dashboard applies it to all its answers; a
/// host can use it for its own admin pages (a sign-in form) with
/// `axum::middleware::map_response(audit_dashboard::security_headers)`.
pub async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

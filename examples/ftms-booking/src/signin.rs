//! Browser sign-in for the admin dashboard: a form that sets an `HttpOnly`,
//! `SameSite=Strict` session cookie, audited exactly like the API's `POST /login`.
//!
//! The cookie is accepted only under the dashboard's path (and by `POST /signout`); the
//! JSON API keeps taking bearer tokens only, so a cookie can never make a cross-site form
//! post count as an API call.

use std::sync::Arc;

use askama::Template;
use audit::auth::{self, LoginFailure};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::AppState;

/// Where the dashboard is mounted.
pub const DASHBOARD: &str = "/admin/audit";
/// The session cookie's name.
pub const COOKIE: &str = "ftms_session";
/// How long a browser session lasts.
const SESSION_SECONDS: u32 = 8 * 3600;

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    stylesheet: String,
    next: String,
    error: Option<&'static str>,
}

fn page(status: StatusCode, next: &str, error: Option<&'static str>) -> Response {
    let page = SigninPage {
        stylesheet: format!("{DASHBOARD}/static/dashboard.css"),
        next: safe_next(next).to_owned(),
        error,
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Only a path on this site: never another host (`//evil`, `/\evil`) after signing in.
fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    if local { next } else { DASHBOARD }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NextParam {
    next: String,
}

/// `GET /signin`.
pub async fn form(Query(q): Query<NextParam>) -> Response {
    page(StatusCode::OK, &q.next, None)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Credentials {
    username: String,
    password: String,
    next: String,
}

/// The browser's word that the form was posted from this site (login CSRF).
fn same_site(headers: &HeaderMap) -> bool {
    let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let site_ok = get(header::HeaderName::from_static("sec-fetch-site"))
        .is_none_or(|s| s == "same-origin" || s == "none");
    let origin_ok = get(header::ORIGIN)
        .is_none_or(|origin| origin.split_once("://").map(|(_, host)| host) == get(header::HOST));
    site_ok && origin_ok
}

/// `POST /signin`: checks the credentials like `POST /login` and records the same events.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    if !same_site(&headers) {
        return page(
            StatusCode::FORBIDDEN,
            &form.next,
            Some("Sign in from this site's own form."),
        );
    }
    match state.users.login(&form.username, &form.password) {
        Ok(token) => {
            audit::axum::record(auth::login_success(form.username));
            let cookie = format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}"
            );
            (
                [(header::SET_COOKIE, cookie)],
                Redirect::to(safe_next(&form.next)),
            )
                .into_response()
        }
        Err(why) => {
            audit::axum::record(auth::login_failed(&form.username, why));
            page(
                StatusCode::UNAUTHORIZED,
                &form.next,
                Some(LoginFailure::client_message(&why)),
            )
        }
    }
}

/// `POST /signout`: ends the cookie's session (recorded as a logout) and clears it.
pub async fn signout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(user) = session_token(&headers).and_then(|t| state.users.logout(t)) {
        audit::axum::record(auth::logout(user));
    }
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, clear)], Redirect::to("/signin")).into_response()
}

/// The session token of the cookie header, if any.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether a request may be authenticated by the cookie: the dashboard and sign-out only.
pub fn cookie_allowed(path: &str) -> bool {
    path == DASHBOARD || path.starts_with("/admin/audit/") || path == "/signout"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(safe_next("/admin/audit/events"), "/admin/audit/events");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
        ] {
            assert_eq!(safe_next(bad), DASHBOARD, "{bad}");
        }
    }

    #[test]
    fn the_cookie_counts_only_for_the_dashboard() {
        assert!(cookie_allowed("/admin/audit"));
        assert!(cookie_allowed("/admin/audit/events"));
        assert!(!cookie_allowed("/admin/auditx"));
        assert!(!cookie_allowed("/bookings"));
        assert!(!cookie_allowed("/audit"));
    }
}

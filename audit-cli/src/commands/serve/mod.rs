//! `audit serve`: the dashboard (crate `audit-dashboard`) standalone, over the store of
//! `--db`, for one operator, with the Excel and PDF reports among its exports.
//!
//! It listens on 127.0.0.1:8080 unless told otherwise and prints a sign-in link holding a
//! fresh random token (or reads the token from `--token-file`): the link sets an `HttpOnly`
//! cookie, scripts send `Authorization: Bearer TOKEN`. Everything the operator does is
//! recorded into the log being viewed, as in any host of the dashboard (page views, exports,
//! verifications, sign-ins and refused requests), through an `Auditor` that SIGINT or SIGTERM
//! drains before the process exits. Plain HTTP: across machines, put it behind a TLS proxy.

mod access;

use std::net::SocketAddr;
use std::sync::Arc;

use audit_axum::AuditLayer;
use audit_core::auth::{self, LoginFailure};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use self::access::{COOKIE, SIGN_IN, SIGN_OUT, TokenAccess};
use crate::cli::ServeArgs;
use crate::error::{CliError, Exit, one_line};
use crate::target::Target;

pub async fn run(args: ServeArgs, target: &Target) -> Result<Exit, CliError> {
    let (token, generated) = match &args.token_file {
        Some(path) => (read_token(path)?, false),
        None => (random_token()?, true),
    };
    let operator = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".to_owned());
    let access = TokenAccess::new(&token, operator);
    let auditor = audit_pipeline::Auditor::builder(target.sink())
        .build()
        .map_err(|err| CliError::failure(format!("cannot start the auditor: {err}")))?;
    let app = router(target, access, &auditor);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| CliError::failure(format!("cannot listen on {}: {err}", args.listen)))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        crate::output::warn(&format!(
            "serving on {addr}, beyond this machine, over plain HTTP: put a TLS proxy in front"
        ));
    }
    let link = if generated {
        format!("http://{addr}{SIGN_IN}?token={token}")
    } else {
        format!("http://{addr}{SIGN_IN}")
    };
    let stop = crate::interrupt::stop_requested()?;
    super::print_line(&format!("audit dashboard: {link}"))?;

    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await;
    // Whatever ended the server, the operator's records reach the store before exit.
    let drained = auditor.shutdown().await;
    served.map_err(|err| CliError::failure(format!("the server failed: {err}")))?;
    drained.map_err(|err| CliError::failure(format!("the audit queue: {}", one_line(&err))))?;
    Ok(Exit::Ok)
}

/// The dashboard at `/`, the sign-in page beside it, and the audit layer around both, whose
/// recorder is `auditor` (no process-wide default: the records go to this store).
fn router(target: &Target, access: TokenAccess, auditor: &audit_pipeline::Auditor) -> Router {
    let dashboard = audit_dashboard::Dashboard::new(target.shared_store(), access.clone())
        .title("audit serve")
        .reports(target.hasher())
        .router();
    Router::new()
        .route(SIGN_IN, get(sign_in))
        .route(SIGN_OUT, post(sign_out))
        .with_state(Arc::new(access))
        .merge(dashboard)
        .layer(AuditLayer::new().recorder(auditor.recorder()))
}

#[derive(Deserialize)]
struct SignIn {
    token: Option<String>,
}

/// Without a token, a form asking for it; with the right one, the cookie and the overview;
/// with a wrong one, 401 and a failed sign-in in the log.
async fn sign_in(State(access): State<Arc<TokenAccess>>, Query(form): Query<SignIn>) -> Response {
    let Some(token) = form.token else {
        return Html(FORM).into_response();
    };
    if !access.accepts(&token) {
        audit_http::record(auth::login_failed(
            access.operator(),
            LoginFailure::WrongPassword,
        ));
        return (StatusCode::UNAUTHORIZED, Html(FORM)).into_response();
    }
    audit_http::record(auth::login_success(access.operator()));
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = Redirect::to("/").into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        // A token from --token-file that a header cannot carry: bearer use only.
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "this token can only be sent as a bearer header",
        )
            .into_response(),
    }
}

/// Clears the cookie (the token stays valid: it is the server's, not the session's) and
/// records the sign-out. A `POST` from the dashboard's button; the cookie is `SameSite=Strict`,
/// so another site cannot sign the operator out.
async fn sign_out(State(access): State<Arc<TokenAccess>>) -> Response {
    audit_http::record(auth::logout(access.operator()));
    let mut response = Redirect::to(SIGN_IN).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("audit_dashboard=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}

const FORM: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Sign in: audit serve</title></head><body><main><h1>audit serve</h1>\
<form method=\"get\" action=\"/signin\"><label>Token <input type=\"password\" \
name=\"token\" autocomplete=\"off\" required></label> <button>Sign in</button></form>\
<p>The token is printed by <code>audit serve</code> when it starts.</p></main></body></html>";

/// 32 random bytes from the OS, as hex.
fn random_token() -> Result<String, CliError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| CliError::failure(format!("no OS randomness for a token: {err}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The token in `path` (one trailing newline ignored); at least 16 characters.
fn read_token(path: &std::path::Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| CliError::failure(format!("{}: {err}", path.display())))?;
    let token = text
        .strip_suffix('\n')
        .unwrap_or(&text)
        .trim_end_matches('\r');
    if token.chars().count() < 16 {
        return Err(CliError::usage(format!(
            "{}: a dashboard token needs at least 16 characters",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

//! The HTTP API: routes, handlers and the audit query endpoint.

use std::net::IpAddr;
use std::sync::Arc;

use audit::auth::{self, LoginFailure};
use audit::axum::{
    AuditLayer, Authenticated, authorize, client_ip::TrustedProxies, require_permission,
};
use audit::dashboard::PrincipalAccess;
use audit::query::{AuditQuery, Cursor, Order};
use audit::store::VerifyScope;
use audit::stores::sqlite::SqliteStore;
use audit::{AuditStore, Category, Outcome};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::json;

use crate::bookings::{BookingError, Bookings, CancelError, NewBooking};
use crate::signin;
use crate::users::{Users, bearer};

/// Everything the handlers share.
pub struct AppState {
    /// Accounts and sessions.
    pub users: Users,
    /// Flights and bookings.
    pub bookings: Bookings,
    /// The audit log, for `GET /audit`.
    pub store: SqliteStore,
}

type Shared = Arc<AppState>;

/// The whole service: routes, RBAC guards, and the audit layer around everything.
pub fn router(state: Shared, trusted: TrustedProxies) -> Router {
    let sessions = state.clone();
    let audit_layer = AuditLayer::new().trusted_proxies(trusted).actor_resolver(
        move |req: &axum::http::request::Parts| {
            let header = req.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
            let token = match header.and_then(bearer) {
                Some(token) => token,
                // Browsers: the sign-in cookie, for the dashboard only.
                None if signin::cookie_allowed(req.uri.path()) => {
                    signin::session_token(&req.headers)?
                }
                None => return None,
            };
            sessions.users.principal(token)
        },
    );
    let dashboard = audit::dashboard::Dashboard::new(
        state.store.clone(),
        PrincipalAccess::new()
            .login_url("/signin?next=/admin/audit")
            .logout_url("/signout"),
    )
    .title("FTMS audit log")
    .mount(signin::DASHBOARD);
    let browser = Router::new()
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", post(signin::signout))
        .layer(axum::middleware::map_response(
            audit::dashboard::security_headers,
        ));

    let bookings = Router::new()
        .route("/bookings", post(create_booking))
        .route_layer(require_permission("booking:create"))
        .merge(
            Router::new()
                .route("/bookings", get(list_bookings))
                .route_layer(require_permission("booking:read")),
        )
        .merge(
            Router::new()
                .route("/bookings/{id}", delete(cancel_booking))
                .route_layer(require_permission("booking:cancel")),
        );
    let admin = Router::new()
        .route("/audit", get(query_audit))
        .route("/audit/verify", get(verify_audit))
        .route_layer(require_permission("audit:read"));

    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .merge(bookings)
        .merge(admin)
        .merge(browser)
        .with_state(state)
        .merge(dashboard)
        .layer(audit_layer)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(State(state): State<Shared>, Json(body): Json<LoginRequest>) -> Response {
    match state.users.login(&body.username, &body.password) {
        Ok(token) => {
            audit::axum::record(auth::login_success(body.username));
            Json(json!({ "token": token })).into_response()
        }
        Err(why) => {
            // The log says why; the client gets the same answer whatever the reason.
            audit::axum::record(auth::login_failed(&body.username, why));
            error(StatusCode::UNAUTHORIZED, LoginFailure::client_message(&why))
        }
    }
}

async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match token.and_then(|t| state.users.logout(t)) {
        Some(user) => {
            audit::axum::record(auth::logout(user));
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::UNAUTHORIZED, "authentication required"),
    }
}

async fn create_booking(
    State(state): State<Shared>,
    Authenticated(who): Authenticated,
    Json(request): Json<NewBooking>,
) -> Response {
    match state.bookings.create(&who.actor.id, request) {
        Ok(booking) => (StatusCode::CREATED, Json(booking)).into_response(),
        Err(err @ BookingError::SoldOut { .. }) => error(StatusCode::CONFLICT, err.to_string()),
        Err(err) => error(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()),
    }
}

async fn list_bookings(State(state): State<Shared>, Authenticated(who): Authenticated) -> Response {
    let owner = (!who.has_permission("booking:cancel-any")).then_some(who.actor.id.as_str());
    Json(state.bookings.list(owner)).into_response()
}

async fn cancel_booking(
    State(state): State<Shared>,
    Authenticated(who): Authenticated,
    Path(id): Path<String>,
) -> Response {
    // Cancelling someone else's booking needs a stronger permission; the denial is
    // recorded by `authorize`.
    let someone_elses = state
        .bookings
        .get(&id)
        .is_some_and(|booking| booking.owner != who.actor.id);
    if someone_elses && let Err(denied) = authorize(Some(&who), "booking:cancel-any") {
        return denied.into_response();
    }
    match state.bookings.cancel(&id) {
        Ok(booking) => Json(booking).into_response(),
        Err(err @ CancelError::NotFound(_)) => error(StatusCode::NOT_FOUND, err.to_string()),
    }
}

/// `GET /audit` query parameters; each maps to one [`AuditQuery`] filter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    action_prefix: Option<String>,
    category: Option<String>,
    outcome: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    order: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid `{param}`: {problem}")]
struct BadParam {
    param: &'static str,
    problem: String,
}

fn bad(param: &'static str, problem: impl ToString) -> BadParam {
    BadParam {
        param,
        problem: problem.to_string(),
    }
}

fn time(param: &'static str, text: &str) -> Result<DateTime<Utc>, BadParam> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad(param, e))
}

impl AuditParams {
    fn to_query(&self) -> Result<AuditQuery, BadParam> {
        let mut q = AuditQuery::new();
        if let Some(actor) = &self.actor {
            q = q.actor(actor.clone());
        }
        match (&self.action, &self.action_prefix) {
            (Some(_), Some(_)) => return Err(bad("action", "give action or action_prefix")),
            (Some(code), None) => q = q.action(code.clone()),
            (None, Some(prefix)) => q = q.action_prefix(prefix.clone()),
            (None, None) => {}
        }
        if let Some(c) = &self.category {
            q = q.category(c.parse::<Category>().map_err(|e| bad("category", e))?);
        }
        if let Some(o) = &self.outcome {
            q = q.outcome(o.parse::<Outcome>().map_err(|e| bad("outcome", e))?);
        }
        if let Some(t) = &self.entity_type {
            q = q.entity_type(t.clone());
        }
        if let Some(id) = &self.entity_id {
            q = q.entity_id(id.clone());
        }
        if let Some(ip) = &self.ip {
            let net = ip
                .parse::<IpNet>()
                .or_else(|_| ip.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| bad("ip", "expected an IP address or a CIDR network"))?;
            q = q.ip_in(net);
        }
        if let Some(id) = &self.request_id {
            q = q.request_id(id.clone());
        }
        if let Some(since) = &self.since {
            q = q.since(time("since", since)?);
        }
        if let Some(until) = &self.until {
            q = q.until(time("until", until)?);
        }
        match self.order.as_deref() {
            None | Some("newest") => {}
            Some("oldest") => q = q.order(Order::OldestFirst),
            Some(_) => return Err(bad("order", "expected newest or oldest")),
        }
        if let Some(limit) = self.limit {
            q = q.limit(limit);
        }
        if let Some(cursor) = &self.cursor {
            q = q.after(cursor.parse::<Cursor>().map_err(|e| bad("cursor", e))?);
        }
        Ok(q)
    }
}

async fn query_audit(
    State(state): State<Shared>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let query = match params.to_query() {
        Ok(query) => query,
        Err(err) => return error(StatusCode::BAD_REQUEST, err.to_string()),
    };
    match state.store.query(&query).await {
        Ok(page) => Json(page).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

async fn verify_audit(State(state): State<Shared>) -> Response {
    match state.store.verify(VerifyScope::All, None).await {
        Ok(report) => Json(json!({
            "valid": report.is_valid(),
            "checked": report.checked,
            "head": report.head,
            "fault": report.fault,
        }))
        .into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

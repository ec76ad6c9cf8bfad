//! `#[audited]` on real axum handlers: extractors as arguments, a field of the response as
//! the entity, an error type mapped to `denied`, the actor set by the app's own extractor
//! after authentication, and the layer's bookkeeping around them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use audit_axum::{AuditLayer, Principal};
use audit_core::recorder::{Recorded, Recorder};
use audit_core::testing::{self, Captured};
use audit_core::{Actor, AuditEvent, AuditOutcome, Outcome, audited, context};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::{Request, StatusCode, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

const PEER: &str = "198.51.100.20:40000";

#[derive(Clone, Default)]
struct AppState {
    /// slug → author
    articles: Arc<Mutex<HashMap<String, String>>>,
}

#[derive(Deserialize)]
struct NewArticle {
    title: String,
}

#[derive(Serialize)]
struct Article {
    slug: String,
    author: String,
}

#[derive(Serialize)]
struct ArticleBody {
    article: Article,
}

#[derive(Debug)]
enum ApiError {
    Forbidden,
    Conflict(&'static str),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forbidden => "forbidden",
            Self::Conflict(_) => "error in the request body",
        })
    }
}

/// Every `Forbidden` is `denied`, in every handler, without an option.
impl AuditOutcome for ApiError {
    fn audit_outcome(&self) -> Outcome {
        match self {
            Self::Forbidden => Outcome::Denied,
            Self::Conflict(_) => Outcome::Failure,
        }
    }

    fn audit_reason(&self) -> String {
        match self {
            Self::Conflict(what) => format!("conflict: {what}"),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Forbidden => StatusCode::FORBIDDEN.into_response(),
            Self::Conflict(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, self.to_string()).into_response()
            }
        }
    }
}

/// The app's own authentication: a token checked inside the request, which completes the
/// audit context with the actor and session once it is known.
struct CurrentUser(String);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(StatusCode::UNAUTHORIZED)?;
        let user = match token {
            "Token jake" => "u-jake",
            "Token anna" => "u-anna",
            _ => return Err(StatusCode::UNAUTHORIZED),
        };
        let principal = Principal::new(Actor::user(user)).session_id(format!("s-{user}"));
        let _ = context::complete(principal.completion());
        Ok(CurrentUser(user.to_owned()))
    }
}

#[audited(
    "ARTICLE_CREATED",
    entity_type = "article",
    entity_id = |res| res.article.slug,
    metadata(title = new.title)
)]
async fn create_article(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(new): Json<NewArticle>,
) -> Result<Json<ArticleBody>, ApiError> {
    let slug = new.title.to_lowercase().replace(' ', "-");
    let mut articles = state.articles.lock().unwrap_or_else(|e| e.into_inner());
    if articles.contains_key(&slug) {
        return Err(ApiError::Conflict("slug already taken"));
    }
    articles.insert(slug.clone(), user.clone());
    Ok(Json(ArticleBody {
        article: Article { slug, author: user },
    }))
}

#[audited("ARTICLE_DELETED", entity_type = "article", entity_id = slug)]
async fn delete_article(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut articles = state.articles.lock().unwrap_or_else(|e| e.into_inner());
    match articles.get(&slug) {
        Some(author) if *author == user => {
            articles.remove(&slug);
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::Forbidden),
    }
}

/// Not audited itself: its 403 is the layer's to record, with the completed actor.
async fn admin_only(CurrentUser(_): CurrentUser) -> StatusCode {
    StatusCode::FORBIDDEN
}

/// A server-rendered page: without a session cookie, a redirect to the login page.
async fn dashboard(parts: Parts) -> Response {
    match parts.headers.get("cookie") {
        Some(_) => "dashboard".into_response(),
        None => Redirect::to("/login?next=/admin/dashboard").into_response(),
    }
}

/// Logging out (authenticated) also redirects to the login page: not a refusal.
async fn logout(CurrentUser(_): CurrentUser) -> Redirect {
    Redirect::to("/login")
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/articles", post(create_article))
        .route("/articles/{slug}", delete(delete_article))
        .route("/admin/users", get(admin_only))
        .route("/admin/dashboard", get(dashboard))
        .route("/logout", post(logout))
        .with_state(state)
        .layer(AuditLayer::new().login_redirect("/login"))
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Captured) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(token) = token {
        req = req.header("authorization", token);
    }
    let mut req = req.body(Body::from(body.to_owned())).expect("request");
    let peer: SocketAddr = PEER.parse().expect("peer");
    req.extensions_mut().insert(ConnectInfo(peer));
    let (response, captured) = testing::capture_async(app.clone().oneshot(req)).await;
    (response.expect("infallible").status(), captured)
}

#[tokio::test]
async fn an_audited_handler_names_the_entity_from_a_field_of_the_response_and_the_actor_from_the_extractor()
 {
    let app = app(AppState::default());
    let (status, captured) = send(
        &app,
        "POST",
        "/articles",
        Some("Token jake"),
        r#"{"title":"How To Train"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let event = captured.single();
    assert_eq!(event.action, "ARTICLE_CREATED");
    assert_eq!(event.entity_id.as_deref(), Some("how-to-train"));
    assert_eq!(event.metadata["title"], "How To Train");
    assert_eq!(event.actor, Some(Actor::user("u-jake")));
    assert_eq!(event.session_id.as_deref(), Some("s-u-jake"));
    assert_eq!(event.ip, Some("198.51.100.20".parse().expect("ip")));
}

#[tokio::test]
async fn a_conflict_is_a_failure_with_its_own_reason() {
    let app = app(AppState::default());
    let body = r#"{"title":"Dup"}"#;
    send(&app, "POST", "/articles", Some("Token jake"), body).await;
    let (status, captured) = send(&app, "POST", "/articles", Some("Token jake"), body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(
        event.reason.as_deref(),
        Some("conflict: slug already taken")
    );
}

#[tokio::test]
async fn a_forbidden_error_is_recorded_once_as_denied_and_the_layer_adds_nothing() {
    let app = app(AppState::default());
    send(
        &app,
        "POST",
        "/articles",
        Some("Token jake"),
        r#"{"title":"Mine"}"#,
    )
    .await;
    let (status, captured) = send(&app, "DELETE", "/articles/mine", Some("Token anna"), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let event = captured.single();
    assert_eq!(event.action, "ARTICLE_DELETED");
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.entity_id.as_deref(), Some("mine"));
    assert_eq!(event.actor, Some(Actor::user("u-anna")));
}

#[tokio::test]
async fn the_layers_403_bookkeeping_carries_the_actor_completed_by_the_extractor() {
    let app = app(AppState::default());
    let (status, captured) = send(&app, "GET", "/admin/users", Some("Token anna"), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let event = captured.single();
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.actor, Some(Actor::user("u-anna")));
    assert_eq!(event.session_id.as_deref(), Some("s-u-anna"));
    assert_eq!(event.metadata["status"], 403);
}

#[tokio::test]
async fn a_request_the_apps_extractor_rejects_for_a_missing_token_leaves_an_event() {
    let app = app(AppState::default());
    let (status, captured) = send(&app, "POST", "/articles", None, r#"{"title":"x"}"#).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let event = captured.single();
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.metadata["status"], 401);
    assert_eq!(event.ip, Some("198.51.100.20".parse().expect("ip")));
}

#[tokio::test]
async fn a_request_the_apps_extractor_rejects_for_a_bad_token_leaves_an_event() {
    let app = app(AppState::default());
    let (status, captured) = send(&app, "DELETE", "/articles/x", Some("Token forged"), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(captured.single().action, "authn_request_unauthenticated");
    assert_eq!(captured.single().actor, None);
}

#[tokio::test]
async fn a_redirect_to_the_login_page_is_recorded_with_the_status_actually_sent() {
    let app = app(AppState::default());
    let (status, captured) = send(&app, "GET", "/admin/dashboard", None, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let event = captured.single();
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.metadata["status"], 303);
    assert_eq!(event.metadata["redirect_to"], "/login");
    assert_eq!(
        event.description.as_deref(),
        Some("GET /admin/dashboard answered 303")
    );
}

#[tokio::test]
async fn a_logout_that_redirects_to_the_login_page_is_not_a_refusal() {
    let app = app(AppState::default());
    let (status, captured) = send(&app, "POST", "/logout", Some("Token jake"), "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(captured.is_empty(), "{:?}", captured.actions());
}

/// Collects events with their context settled, from any thread.
#[derive(Default)]
struct Collect(Mutex<Vec<AuditEvent>>);

impl Recorder for Collect {
    fn record(&self, recorded: Recorded) {
        let (mut event, snapshot) = recorded.into_settled();
        if let Some(snapshot) = snapshot {
            snapshot.apply_to(&mut event);
        }
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}

#[tokio::test]
async fn two_apps_in_one_process_keep_their_events_apart() {
    let (one, two) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let router = |recorder: Arc<Collect>| {
        Router::new()
            .route("/articles", post(create_article))
            .with_state(AppState::default())
            .layer(AuditLayer::new().recorder(recorder as Arc<dyn Recorder>))
    };
    let (app_one, app_two) = (router(one.clone()), router(two.clone()));
    let ((), outside) = testing::capture_async(async {
        for (app, token) in [
            (&app_one, "Token jake"),
            (&app_two, "Token anna"),
            (&app_two, "Token anna"),
        ] {
            let req = Request::builder()
                .method("POST")
                .uri("/articles")
                .header("content-type", "application/json")
                .header("authorization", token)
                .body(Body::from(format!(r#"{{"title":"{token}"}}"#)))
                .expect("request");
            let _ = app.clone().oneshot(req).await;
        }
    })
    .await;
    let actors = |c: &Collect| -> Vec<Option<String>> {
        c.0.lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|e| e.actor.as_ref().map(|a| a.id.clone()))
            .collect()
    };
    assert_eq!(actors(&one), [Some("u-jake".to_owned())]);
    assert_eq!(
        actors(&two),
        [Some("u-anna".to_owned()), Some("u-anna".to_owned())]
    );
    assert!(
        outside.is_empty(),
        "nothing reached the surrounding recorder"
    );
}

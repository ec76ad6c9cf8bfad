//! A test host: the dashboard nested at `/admin/audit` inside audit-axum's layer, whose
//! resolver takes the user from an `x-test-user` header (or a `test_user` cookie, for the
//! browser) and gives each a fixed set of permissions. Every request is recorded through
//! one pipeline into the same store the dashboard reads.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use audit_axum::{AuditLayer, Principal, client_ip::TrustedProxies};
use audit_core::{Actor, AuditStore};
use audit_dashboard::{Dashboard, PrincipalAccess};
use audit_pipeline::Auditor;
use axum::Router;
use axum::body::Body;
use http::{Request, Response};
use tower::ServiceExt;

/// Who the test users are.
pub fn principal(user: &str) -> Option<Principal> {
    let permissions: &[&str] = match user {
        "admin" => &["audit:read", "audit:export", "audit:verify"],
        "auditor" => &["audit:read"],
        "clerk" => &["booking:create"],
        _ => return None,
    };
    Some(
        Principal::new(Actor::user(user))
            .roles([format!("{user}-role")])
            .permissions(permissions.iter().copied())
            .session_id(format!("session-of-{user}")),
    )
}

fn cookie_user(parts: &http::request::Parts) -> Option<String> {
    let cookies = parts.headers.get(http::header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "test_user")
        .map(|(_, v)| v.to_owned())
}

/// The host app over `store`, recording through `auditor`.
pub fn app(store: Arc<dyn AuditStore>, auditor: Auditor) -> Router {
    app_with(store, auditor, |dashboard| dashboard)
}

/// [`app`] with the dashboard configured further by `configure`.
pub fn app_with(
    store: Arc<dyn AuditStore>,
    auditor: Auditor,
    configure: impl FnOnce(Dashboard) -> Dashboard,
) -> Router {
    let layer = AuditLayer::new()
        .trusted_proxies(TrustedProxies::loopback())
        .actor_resolver(|parts: &http::request::Parts| {
            let user = parts
                .headers
                .get("x-test-user")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| cookie_user(parts))?;
            principal(&user)
        });
    let access = PrincipalAccess::new()
        .login_url("/signin")
        .logout_url("/signout");
    let dashboard = configure(Dashboard::new(store, access).verify_chunk(7)).mount("/admin/audit");
    Router::new()
        .merge(dashboard)
        .route("/test-signin/{user}", axum::routing::get(test_signin))
        .layer(layer)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let auditor = auditor.clone();
                async move { auditor.scope(next.run(req)).await }
            },
        ))
}

/// A stand-in for a sign-in form: sets the session cookie the resolver reads.
async fn test_signin(
    axum::extract::Path(user): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            http::header::SET_COOKIE,
            format!("test_user={user}; Path=/; HttpOnly; SameSite=Strict"),
        )],
        axum::response::Redirect::to("/admin/audit"),
    )
        .into_response()
}

/// Sends one request as `user` (none: anonymous) from 127.0.0.1.
pub async fn send(app: &Router, user: Option<&str>, request: Request<Body>) -> Response<Body> {
    let mut request = request;
    if let Some(user) = user {
        request
            .headers_mut()
            .insert("x-test-user", user.parse().expect("header value"));
    }
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    app.clone().oneshot(request).await.expect("infallible")
}

pub async fn get(app: &Router, user: Option<&str>, uri: &str) -> (u16, http::HeaderMap, String) {
    let response = send(
        app,
        user,
        Request::get(uri).body(Body::empty()).expect("request"),
    )
    .await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Serves the app on a free 127.0.0.1 port (for the browser); returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    format!("http://{addr}")
}

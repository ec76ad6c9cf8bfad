//! The audit layer: context, request ids, client IP, principals and refusal auditing.

use std::net::SocketAddr;

use audit_axum::client_ip::TrustedProxies;
use audit_axum::{
    AcceptRequestId, AuditLayer, Authenticated, Principal, X_REQUEST_ID, require_permission,
};
use audit_core::testing::{self, Captured};
use audit_core::{Actor, AuditEvent, Outcome};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use axum::routing::{get, post};
use tower::ServiceExt;

const PEER: &str = "198.51.100.20:40000";

async fn record_handler() -> &'static str {
    audit_core::record(AuditEvent::builder("FTMS_BOOKING_CREATED").build());
    "ok"
}

fn resolver(req: &http::request::Parts) -> Option<Principal> {
    match req.headers.get("x-user")?.to_str().ok()? {
        "alice" => Some(
            Principal::new(Actor::user("alice"))
                .roles(["agent"])
                .permissions(["booking:create"])
                .session_id("s-1"),
        ),
        "vera" => Some(Principal::new(Actor::user("vera")).roles(["viewer"])),
        _ => None,
    }
}

fn app(layer: AuditLayer) -> Router {
    Router::new()
        .route("/bookings", post(record_handler))
        .route_layer(require_permission("booking:create"))
        .route("/open", get(record_handler))
        .route(
            "/me",
            get(|Authenticated(who): Authenticated| async move { who.actor.id }),
        )
        .route(
            "/forbidden",
            get(|| async { (StatusCode::FORBIDDEN, "no") }),
        )
        .route(
            "/login",
            post(|| async {
                audit_axum::record(audit_core::auth::login_failed(
                    "x",
                    audit_core::auth::LoginFailure::UnknownUser,
                ));
                (StatusCode::UNAUTHORIZED, "invalid user name or password")
            }),
        )
        .layer(layer.actor_resolver(resolver))
}

fn request(method: &str, uri: &str) -> http::request::Builder {
    Request::builder().method(method).uri(uri)
}

async fn send(app: Router, req: http::request::Builder, peer: &str) -> (Response<Body>, Captured) {
    let mut req = req.body(Body::empty()).expect("request");
    let peer: SocketAddr = peer.parse().expect("peer");
    req.extensions_mut().insert(ConnectInfo(peer));
    let (response, captured) = testing::capture_async(app.oneshot(req)).await;
    (response.expect("infallible"), captured)
}

#[tokio::test]
async fn events_in_a_handler_carry_ip_user_agent_and_request_id() {
    let req = request("GET", "/open")
        .header("user-agent", "curl/8.5")
        .header("x-request-id", "req-123");
    let layer = AuditLayer::new().accept_request_id(AcceptRequestId::FromAnyone);
    let (_, captured) = send(app(layer), req, PEER).await;
    let event = captured.single();
    assert_eq!(event.ip, Some("198.51.100.20".parse().expect("ip")));
    assert_eq!(event.user_agent.as_deref(), Some("curl/8.5"));
    assert_eq!(event.request_id.as_deref(), Some("req-123"));
}

#[tokio::test]
async fn a_valid_request_id_from_a_trusted_proxy_is_kept_and_echoed() {
    let req = request("GET", "/open").header("x-request-id", "req-123");
    let layer = AuditLayer::new().trusted_proxies(TrustedProxies::loopback());
    let (response, captured) = send(app(layer), req, "127.0.0.1:5000").await;
    assert_eq!(response.headers()[X_REQUEST_ID], "req-123");
    assert_eq!(captured.single().request_id.as_deref(), Some("req-123"));
}

#[tokio::test]
async fn a_request_id_from_an_untrusted_client_is_replaced_by_default() {
    let req = request("GET", "/open").header("x-request-id", "someone-elses-request");
    let layer = AuditLayer::new().trusted_proxies(TrustedProxies::loopback());
    let (response, captured) = send(app(layer), req, PEER).await;
    let echoed = response.headers()[X_REQUEST_ID].to_str().expect("ascii");
    assert_ne!(echoed, "someone-elses-request");
    assert_eq!(captured.single().request_id.as_deref(), Some(echoed));
}

#[tokio::test]
async fn request_ids_can_be_taken_from_anyone_or_from_nobody() {
    let from = |accept| {
        let req = request("GET", "/open").header("x-request-id", "req-123");
        let layer = AuditLayer::new()
            .trusted_proxies(TrustedProxies::loopback())
            .accept_request_id(accept);
        async move {
            let (_, captured) = send(app(layer), req, "127.0.0.1:5000").await;
            captured.single().request_id.clone()
        }
    };
    assert_eq!(
        from(AcceptRequestId::FromAnyone).await.as_deref(),
        Some("req-123")
    );
    assert_ne!(
        from(AcceptRequestId::Never).await.as_deref(),
        Some("req-123")
    );
}

#[tokio::test]
async fn a_missing_request_id_is_generated_echoed_and_recorded() {
    let (response, captured) = send(app(AuditLayer::new()), request("GET", "/open"), PEER).await;
    let echoed = response.headers()[X_REQUEST_ID].to_str().expect("ascii");
    let uuid = uuid::Uuid::parse_str(echoed).expect("uuid");
    assert_eq!(uuid.get_version_num(), 7);
    assert_eq!(captured.single().request_id.as_deref(), Some(echoed));
}

#[tokio::test]
async fn an_unsafe_request_id_is_replaced() {
    let req = request("GET", "/open").header("x-request-id", "bad id; drop");
    let (response, captured) = send(app(AuditLayer::new()), req, PEER).await;
    assert_ne!(response.headers()[X_REQUEST_ID], "bad id; drop");
    assert_ne!(
        captured.single().request_id.as_deref(),
        Some("bad id; drop")
    );
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let req = request("GET", "/open").header("x-forwarded-for", "6.6.6.6");
    let (_, captured) = send(app(AuditLayer::new()), req, PEER).await;
    assert_eq!(
        captured.single().ip,
        Some("198.51.100.20".parse().expect("ip"))
    );
}

#[tokio::test]
async fn forwarded_for_is_used_from_a_trusted_proxy() {
    let layer = AuditLayer::new().trusted_proxies(TrustedProxies::loopback());
    let req = request("GET", "/open").header("x-forwarded-for", "6.6.6.6, 203.0.113.5");
    let (_, captured) = send(app(layer), req, "127.0.0.1:5000").await;
    assert_eq!(
        captured.single().ip,
        Some("203.0.113.5".parse().expect("ip"))
    );
}

#[tokio::test]
async fn a_hostile_user_agent_still_gives_a_valid_event() {
    let agent = format!("evil\t{}", "a".repeat(2000));
    let req = request("GET", "/open").header("user-agent", agent);
    let (_, captured) = send(app(AuditLayer::new()), req, PEER).await;
    captured.assert_all_valid();
    assert_eq!(captured.len(), 1);
}

#[tokio::test]
async fn the_resolved_actor_and_session_are_in_the_context() {
    let req = request("GET", "/open").header("x-user", "alice");
    let (_, captured) = send(app(AuditLayer::new()), req, PEER).await;
    let event = captured.single();
    assert_eq!(event.actor, Some(Actor::user("alice")));
    assert_eq!(event.session_id.as_deref(), Some("s-1"));
}

#[tokio::test]
async fn an_extractor_401_before_the_handler_is_audited_by_the_layer() {
    let (response, captured) = send(app(AuditLayer::new()), request("GET", "/me"), PEER).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let event = captured.single();
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.metadata["path"], "/me");
    assert_eq!(event.ip, Some("198.51.100.20".parse().expect("ip")));
}

#[tokio::test]
async fn an_unaudited_403_is_audited_by_the_layer() {
    let (response, captured) =
        send(app(AuditLayer::new()), request("GET", "/forbidden"), PEER).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(captured.single().action, "authz_fail");
}

#[tokio::test]
async fn rejection_auditing_can_be_switched_off() {
    let layer = AuditLayer::new().audit_rejections(false);
    let (_, captured) = send(app(layer), request("GET", "/forbidden"), PEER).await;
    assert!(captured.is_empty());
}

#[tokio::test]
async fn a_401_the_handler_audited_is_not_audited_twice() {
    let (response, captured) = send(app(AuditLayer::new()), request("POST", "/login"), PEER).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(captured.actions(), ["authn_login_fail"]);
}

#[tokio::test]
async fn successful_requests_add_no_event_of_their_own() {
    let (_, captured) = send(app(AuditLayer::new()), request("GET", "/open"), PEER).await;
    assert_eq!(captured.actions(), ["FTMS_BOOKING_CREATED"]);
}

#[tokio::test]
async fn require_permission_denies_and_records_permission_and_roles() {
    let req = request("POST", "/bookings").header("x-user", "vera");
    let (response, captured) = send(app(AuditLayer::new()), req, PEER).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let event = captured.single();
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.metadata["permission"], "booking:create");
    assert_eq!(event.metadata["roles"], serde_json::json!(["viewer"]));
    assert_eq!(event.metadata["missing_role_assignment"], true);
    assert_eq!(event.actor, Some(Actor::user("vera")));
}

#[tokio::test]
async fn require_permission_without_a_principal_answers_401_and_records_it() {
    let (response, captured) =
        send(app(AuditLayer::new()), request("POST", "/bookings"), PEER).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let event = captured.single();
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.metadata["permission"], "booking:create");
}

#[tokio::test]
async fn require_permission_lets_an_allowed_principal_through() {
    let req = request("POST", "/bookings").header("x-user", "alice");
    let (response, captured) = send(app(AuditLayer::new()), req, PEER).await;
    assert_eq!(response.status(), StatusCode::OK);
    let event = captured.single();
    assert_eq!(event.action, "FTMS_BOOKING_CREATED");
    assert_eq!(event.actor, Some(Actor::user("alice")));
}

#[tokio::test]
async fn a_principal_set_by_an_outer_auth_layer_is_used() {
    let app = Router::new()
        .route("/open", get(record_handler))
        .layer(AuditLayer::new())
        .layer(axum::Extension(Principal::new(Actor::service("billing"))));
    let (_, captured) = send(app, request("GET", "/open"), PEER).await;
    assert_eq!(captured.single().actor, Some(Actor::service("billing")));
}

#[tokio::test]
async fn without_a_peer_address_no_ip_is_recorded_and_headers_are_not_believed() {
    let app = app(AuditLayer::new().trusted_proxies(TrustedProxies::loopback()));
    let req = request("GET", "/open")
        .header("x-forwarded-for", "6.6.6.6")
        .body(Body::empty())
        .expect("request");
    let (response, captured) = testing::capture_async(app.oneshot(req)).await;
    assert_eq!(response.expect("infallible").status(), StatusCode::OK);
    assert_eq!(captured.single().ip, None);
}

#[tokio::test]
async fn the_forwarded_header_is_used_when_configured() {
    let layer = AuditLayer::new()
        .forwarded_header(audit_axum::client_ip::ForwardedHeader::Forwarded)
        .trusted_proxies(TrustedProxies::loopback());
    let req = request("GET", "/open")
        .header("forwarded", "for=6.6.6.6, for=\"[2001:db8::5]:1234\"")
        .header("x-forwarded-for", "7.7.7.7");
    let (_, captured) = send(app(layer), req, "127.0.0.1:5000").await;
    assert_eq!(
        captured.single().ip,
        Some("2001:db8::5".parse().expect("ip"))
    );
}

#[tokio::test]
async fn a_401_from_require_permission_asks_for_bearer_credentials() {
    let (response, _) = send(app(AuditLayer::new()), request("POST", "/bookings"), PEER).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn a_401_for_a_hostile_method_is_still_audited_as_a_denial() {
    let app = Router::new()
        .route(
            "/me",
            axum::routing::any(|Authenticated(who): Authenticated| async move { who.actor.id }),
        )
        .layer(AuditLayer::new());
    let method = "X".repeat(5000);
    let (response, captured) = send(app, request(&method, "/me"), PEER).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    captured.assert_all_valid();
    assert_eq!(captured.single().action, "authn_request_unauthenticated");
}

/// A recorder that notes which door each event came through: `record` (which may block its
/// thread under backpressure) or `record_async` (which waits without blocking it).
#[derive(Default)]
struct Doors {
    blocking: std::sync::atomic::AtomicUsize,
    waiting: std::sync::atomic::AtomicUsize,
}

impl audit_core::recorder::Recorder for Doors {
    fn record(&self, _: audit_core::recorder::Recorded) {
        self.blocking
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn record_async<'a>(
        &'a self,
        _: audit_core::recorder::Recorded,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn the_response_future_records_a_refusal_without_blocking_its_thread() {
    let doors = std::sync::Arc::new(Doors::default());
    let recorder: std::sync::Arc<dyn audit_core::recorder::Recorder> = doors.clone();
    let layer = AuditLayer::new().recorder(recorder);
    let mut req = request("GET", "/forbidden")
        .body(Body::empty())
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(PEER.parse::<SocketAddr>().expect("peer")));
    let response = app(layer).oneshot(req).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let count = |n: &std::sync::atomic::AtomicUsize| n.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        (count(&doors.waiting), count(&doors.blocking)),
        (1, 0),
        "the 403 is recorded through record_async"
    );
}

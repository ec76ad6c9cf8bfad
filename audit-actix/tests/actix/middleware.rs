//! The middleware over HTTP: context, request ids, client IP, identification from the
//! session, refusals with the status sent, the permission guard, replays, several apps.

use audit_actix::client_ip::TrustedProxies;
use audit_core::{Actor, AuditEvent, Outcome};
use reqwest::{Client, Response, StatusCode};

use crate::app::Server;

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sends `method path` with `session` as the session cookie, if any.
async fn send(server: &Server, method: &str, path: &str, session: Option<&str>) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client().request(method, format!("{}{path}", server.url));
    if let Some(user) = session {
        request = request.header("cookie", format!("session={user}"));
    }
    request.send().await.expect("send")
}

fn single(events: &[AuditEvent]) -> &AuditEvent {
    match events {
        [event] => event,
        other => panic!(
            "expected one event, got {:?}",
            other.iter().map(|e| e.action.as_ref()).collect::<Vec<_>>()
        ),
    }
}

#[tokio::test]
async fn an_audited_handler_is_recorded_with_the_ip_user_agent_and_echoed_request_id() {
    let server = Server::start(|audit| audit.trusted_proxies(TrustedProxies::loopback()));
    let response = client()
        .post(format!("{}/subscriptions", server.url))
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
        .header("user-agent", "curl/8.5")
        .header("x-request-id", "req-from-proxy")
        .body("ada@example.org")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], "req-from-proxy");
    let events = server.events().await;
    let event = single(&events);
    assert_eq!(event.action, "SUBSCRIPTION_CREATED");
    assert_eq!(event.entity_id.as_deref(), Some("sub-15"));
    assert_eq!(event.ip, Some("203.0.113.9".parse().expect("ip")));
    assert_eq!(event.user_agent.as_deref(), Some("curl/8.5"));
    assert_eq!(event.request_id.as_deref(), Some("req-from-proxy"));
    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_peer_gets_a_new_request_id_and_its_own_address() {
    let server = Server::start(|audit| audit);
    let response = client()
        .post(format!("{}/subscriptions", server.url))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-request-id", "someone-elses")
        .body("x")
        .send()
        .await
        .expect("send");
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(echoed, "someone-elses");
    let events = server.events().await;
    let event = single(&events);
    assert_eq!(event.request_id.as_deref(), Some(echoed.as_str()));
    assert_eq!(event.ip, Some("127.0.0.1".parse().expect("ip")));
    server.stop().await;
}

#[tokio::test]
async fn the_permission_guard_denies_a_viewer_and_records_permission_roles_and_actor() {
    let server = Server::start(|audit| audit);
    let response = send(&server, "POST", "/admin/newsletters", Some("viewer")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let events = server.events().await;
    let event = single(&events);
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.metadata["permission"], "newsletter:publish");
    assert_eq!(event.metadata["roles"], serde_json::json!(["viewer"]));
    assert_eq!(event.actor, Some(Actor::user("u-viewer")));
    assert_eq!(event.session_id.as_deref(), Some("sess-viewer"));
    server.stop().await;
}

#[tokio::test]
async fn the_permission_guard_answers_401_without_a_session_and_records_it_once() {
    let server = Server::start(|audit| audit);
    let response = send(&server, "POST", "/admin/newsletters", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let events = server.events().await;
    let event = single(&events);
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.metadata["permission"], "newsletter:publish");
    server.stop().await;
}

#[tokio::test]
async fn an_anonymous_visitor_redirected_to_the_login_page_is_recorded_with_the_303_sent() {
    let server = Server::start(|audit| audit.login_redirect("/login"));
    let response = send(&server, "GET", "/admin/dashboard", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let events = server.events().await;
    let event = single(&events);
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.metadata["status"], 303);
    assert_eq!(event.metadata["redirect_to"], "/login");
    assert_eq!(
        event.description.as_deref(),
        Some("GET /admin/dashboard answered 303")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_logged_in_visitor_of_the_same_page_leaves_no_refusal() {
    let server = Server::start(|audit| audit.login_redirect("/login"));
    let response = send(&server, "GET", "/admin/dashboard", Some("viewer")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(server.events().await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_refusal_bookkeeping_carries_the_actor_identified_from_the_session() {
    let server = Server::start(|audit| audit);
    let response = send(&server, "GET", "/members", Some("viewer")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let events = server.events().await;
    let event = single(&events);
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.metadata["status"], 403);
    assert_eq!(event.actor, Some(Actor::user("u-viewer")));
    assert_eq!(event.session_id.as_deref(), Some("sess-viewer"));
    server.stop().await;
}

#[tokio::test]
async fn an_extractor_401_is_recorded_and_answers_with_a_bearer_challenge() {
    let server = Server::start(|audit| audit);
    let response = send(&server, "GET", "/members", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let events = server.events().await;
    assert_eq!(single(&events).action, "authn_request_unauthenticated");
    server.stop().await;
}

#[tokio::test]
async fn an_error_from_a_middleware_is_audited_with_its_status() {
    let server = Server::start(|audit| audit);
    let response = send(&server, "GET", "/blocked", None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let events = server.events().await;
    let event = single(&events);
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.metadata["status"], 403);
    assert!(event.request_id.is_some());
    server.stop().await;
}

#[tokio::test]
async fn an_idempotent_replay_is_marked_as_a_replay() {
    let server = Server::start(|audit| audit);
    for _ in 0..2 {
        let response = client()
            .post(format!("{}/admin/newsletters", server.url))
            .header("cookie", "session=admin")
            .header("idempotency-key", "k-1")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let events = server.events().await;
    let [first, again] = events.as_slice() else {
        panic!("expected two events, got {}", events.len());
    };
    assert_eq!(first.action, "NEWSLETTER_PUBLISHED");
    assert!(!first.is_replay());
    assert!(again.is_replay());
    assert_eq!(again.metadata["idempotency_key"], "k-1");
    assert_eq!(again.entity_id.as_deref(), Some("issue-k-1"));
    assert_eq!(again.actor, Some(Actor::user("u-admin")));
    server.stop().await;
}

#[tokio::test]
async fn two_apps_in_one_process_keep_their_events_apart() {
    let (one, two) = (Server::start(|a| a), Server::start(|a| a));
    for (server, times) in [(&one, 1), (&two, 2)] {
        for _ in 0..times {
            send(server, "GET", "/record", None).await;
        }
    }
    assert_eq!(one.events().await.len(), 1);
    assert_eq!(two.events().await.len(), 2);
    one.stop().await;
    two.stop().await;
}

//! The framework-neutral edge on a "service" that is only a function over plain header
//! values, as a service on an older stack (another `http` major, no tower) would use it.

use std::net::IpAddr;

use audit_core::context::{self, Completion};
use audit_core::testing::{self, Captured};
use audit_core::{Actor, AuditEvent, Outcome, auth};
use audit_http::client_ip::TrustedProxies;
use audit_http::{AcceptRequestId, Edge};

type Headers = Vec<(&'static str, &'static str)>;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

/// Serves one request: `handler` gets the request's context and returns the status and the
/// `Location` header it answered with.
async fn serve(
    edge: &Edge,
    peer: &str,
    path: &str,
    headers: Headers,
    handler: impl FnOnce() -> (u16, Option<&'static str>),
) -> (String, Captured) {
    let (id, captured) = testing::capture_async(async {
        let request = edge.begin(Some(ip(peer)), "GET", path, &headers);
        let (status, location) = request.scope(async { handler() }).await;
        request.finish(status, location.map(str::as_bytes));
        request.request_id().to_string()
    })
    .await;
    (id, captured)
}

fn record(action: &'static str) {
    audit_core::record(AuditEvent::builder(action).build());
}

#[tokio::test]
async fn events_carry_the_client_ip_walked_behind_trusted_proxies_and_the_request_id() {
    let edge = Edge::new().trusted_proxies(TrustedProxies::loopback());
    let headers = vec![
        ("X-Forwarded-For", "6.6.6.6, 203.0.113.9"),
        ("X-Request-Id", "req-77"),
        ("User-Agent", "old-stack/1.0"),
    ];
    let (id, captured) = serve(&edge, "127.0.0.1", "/", headers, || {
        record("SEEN");
        (200, None)
    })
    .await;
    let event = captured.single();
    assert_eq!(id, "req-77");
    assert_eq!(event.ip, Some(ip("203.0.113.9")));
    assert_eq!(event.request_id.as_deref(), Some("req-77"));
    assert_eq!(event.user_agent.as_deref(), Some("old-stack/1.0"));
}

#[tokio::test]
async fn an_untrusted_client_can_choose_neither_its_ip_nor_its_request_id() {
    let edge = Edge::new().trusted_proxies(TrustedProxies::loopback());
    let headers = vec![
        ("x-forwarded-for", "6.6.6.6"),
        ("x-request-id", "someone-else"),
    ];
    let (id, captured) = serve(&edge, "198.51.100.4", "/", headers, || {
        record("SEEN");
        (200, None)
    })
    .await;
    assert_ne!(id, "someone-else");
    let event = captured.single();
    assert_eq!(event.ip, Some(ip("198.51.100.4")));
    assert_eq!(event.request_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn a_request_id_can_be_believed_from_anyone_when_configured() {
    let edge = Edge::new().accept_request_id(AcceptRequestId::FromAnyone);
    let (id, _) = serve(
        &edge,
        "198.51.100.4",
        "/",
        vec![("x-request-id", "r-1")],
        || (200, None),
    )
    .await;
    assert_eq!(id, "r-1");
}

#[tokio::test]
async fn a_401_nothing_recorded_is_audited_with_its_status() {
    let (_, captured) = serve(&Edge::new(), "198.51.100.4", "/api/user", vec![], || {
        (401, None)
    })
    .await;
    let event = captured.single();
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.metadata["status"], 401);
    assert_eq!(event.metadata["path"], "/api/user");
}

#[tokio::test]
async fn a_403_after_the_actor_was_completed_carries_it() {
    let (_, captured) = serve(&Edge::new(), "198.51.100.4", "/admin", vec![], || {
        let _ = context::complete(
            Completion::new()
                .actor(Actor::user("u-1"))
                .session_id("s-1"),
        );
        (403, None)
    })
    .await;
    let event = captured.single();
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.actor, Some(Actor::user("u-1")));
    assert_eq!(event.session_id.as_deref(), Some("s-1"));
}

#[tokio::test]
async fn a_refusal_the_request_recorded_itself_is_not_recorded_twice() {
    let (_, captured) = serve(&Edge::new(), "198.51.100.4", "/login", vec![], || {
        audit_core::record(auth::login_failed(
            "mallory",
            auth::LoginFailure::UnknownUser,
        ));
        (401, None)
    })
    .await;
    assert_eq!(captured.actions(), ["authn_login_fail"]);
}

#[tokio::test]
async fn a_success_event_does_not_explain_a_refusal() {
    let (_, captured) = serve(&Edge::new(), "198.51.100.4", "/x", vec![], || {
        record("LOOKED_AROUND");
        (403, None)
    })
    .await;
    assert_eq!(captured.actions(), ["LOOKED_AROUND", "authz_fail"]);
}

#[tokio::test]
async fn mark_audited_covers_a_refusal_explained_by_another_event() {
    let (_, captured) = serve(&Edge::new(), "198.51.100.4", "/x", vec![], || {
        audit_http::record(AuditEvent::builder("QUOTA_EXCEEDED").build());
        (403, None)
    })
    .await;
    assert_eq!(captured.actions(), ["QUOTA_EXCEEDED"]);
}

#[tokio::test]
async fn a_redirect_to_an_absolute_login_url_is_a_refusal_with_its_status() {
    let edge = Edge::new().login_redirect("/login");
    let (_, captured) = serve(&edge, "198.51.100.4", "/admin/dashboard", vec![], || {
        (302, Some("https://news.example.org/login?next=%2Fadmin"))
    })
    .await;
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.metadata["status"], 302);
    assert_eq!(event.metadata["redirect_to"], "/login");
}

#[tokio::test]
async fn a_redirect_elsewhere_or_without_a_login_path_is_no_refusal() {
    let edge = Edge::new().login_redirect("/login");
    let (_, elsewhere) = serve(&edge, "198.51.100.4", "/form", vec![], || {
        (303, Some("/thanks"))
    })
    .await;
    assert!(elsewhere.is_empty());
    let (_, unconfigured) = serve(&Edge::new(), "198.51.100.4", "/admin", vec![], || {
        (303, Some("/login"))
    })
    .await;
    assert!(unconfigured.is_empty());
}

#[tokio::test]
async fn refusal_auditing_can_be_switched_off() {
    let edge = Edge::new().audit_rejections(false);
    let (_, captured) = serve(&edge, "198.51.100.4", "/x", vec![], || (401, None)).await;
    assert!(captured.is_empty());
}

#[tokio::test]
async fn a_hostile_path_and_method_still_give_a_valid_refusal_event() {
    let edge = Edge::new();
    let method = "M".repeat(4000);
    let path = format!("/{}", "\u{7}".repeat(4000));
    let ((), captured) = testing::capture_async(async {
        let request = edge.begin(None, &method, &path, &Vec::<(&str, &str)>::new());
        request.finish(401, None);
    })
    .await;
    captured.assert_all_valid();
    assert_eq!(captured.len(), 1);
}

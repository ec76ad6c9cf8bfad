//! The ready-made authentication and authorization events.

use audit_core::auth::{self, AuthzDenial, LoginFailure, TokenFailure, codes};
use audit_core::{ActorKind, Category, Outcome, Severity};

#[test]
fn login_success_is_an_info_authentication_success_by_the_user() {
    let event = auth::login_success("alice");
    assert_eq!(event.action, codes::LOGIN_SUCCESS);
    assert_eq!(event.category, Category::Authentication);
    assert_eq!(event.outcome, Outcome::Success);
    assert_eq!(event.severity, Severity::Info);
    let actor = event.actor.as_ref().expect("actor");
    assert_eq!((actor.id.as_str(), actor.kind), ("alice", ActorKind::User));
    assert!(event.validate().is_ok());
}

#[test]
fn unknown_user_login_failure_records_the_reason_and_an_anonymous_actor() {
    let event = auth::login_failed("ghost", LoginFailure::UnknownUser);
    assert_eq!(event.action, "authn_login_fail");
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.severity, Severity::Warning);
    assert_eq!(event.metadata["failure"], "unknown_user");
    assert_eq!(event.reason.as_deref(), Some("unknown user"));
    assert_eq!(
        event.actor.as_ref().map(|a| a.kind),
        Some(ActorKind::Anonymous)
    );
}

#[test]
fn wrong_password_login_failure_is_distinguished_in_the_event() {
    let event = auth::login_failed("alice", LoginFailure::WrongPassword);
    assert_eq!(event.action, "authn_login_fail");
    assert_eq!(event.metadata["failure"], "wrong_password");
    assert_eq!(event.actor.as_ref().map(|a| a.kind), Some(ActorKind::User));
}

#[test]
fn a_failed_login_to_a_known_account_is_recorded_under_the_account_id() {
    let event = auth::login_failed_for_account("u-42", "Alice", LoginFailure::WrongPassword);
    let actor = event.actor.as_ref().expect("actor");
    assert_eq!((actor.id.as_str(), actor.kind), ("u-42", ActorKind::User));
    assert_eq!(event.metadata["claimed_user"], "Alice");
    assert_eq!(event.metadata["failure"], "wrong_password");
    assert_eq!(event.outcome, Outcome::Failure);
    assert!(event.validate().is_ok());
}

#[test]
fn all_activity_of_an_account_includes_its_failed_logins() {
    use audit_core::AuditQuery;
    use audit_core::sinks::MemorySink;
    use audit_core::{AuditSink, AuditStore};
    let store = MemorySink::new();
    let events = [
        auth::login_failed_for_account("u-42", "alice", LoginFailure::WrongPassword),
        auth::login_success("u-42"),
        auth::login_failed("alice", LoginFailure::UnknownUser),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        store.write(&events).await.expect("write");
        let page = store
            .query(&AuditQuery::new().actor("u-42"))
            .await
            .expect("query");
        let actions: Vec<_> = page.events.iter().map(|e| e.event.action.clone()).collect();
        assert_eq!(actions, ["authn_login_success", "authn_login_fail"]);
    });
}

#[test]
fn a_hostile_claimed_name_for_a_known_account_is_sanitised() {
    let name = format!("a\u{0}b{}", "x".repeat(5000));
    let event = auth::login_failed_for_account("u-1", &name, LoginFailure::Locked);
    assert_eq!(event.action, "authn_login_lock");
    assert!(event.validate().is_ok());
}

#[test]
fn every_login_failure_gives_the_client_the_same_message() {
    let reasons = [
        LoginFailure::UnknownUser,
        LoginFailure::WrongPassword,
        LoginFailure::Locked,
        LoginFailure::Inactive,
        LoginFailure::SecondFactorFailed,
    ];
    for why in reasons {
        assert_eq!(why.client_message(), auth::GENERIC_LOGIN_FAILURE, "{why:?}");
    }
}

#[test]
fn locked_account_login_uses_the_lock_code() {
    let event = auth::login_locked("alice");
    assert_eq!(event.action, "authn_login_lock");
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.metadata["failure"], "locked");
}

#[test]
fn inactive_account_login_uses_the_inactive_code() {
    let event = auth::login_inactive("alice");
    assert_eq!(event.action, "authn_login_inactive");
    assert_eq!(event.metadata["failure"], "inactive");
}

#[test]
fn a_hostile_claimed_user_name_still_gives_a_valid_event() {
    let name = format!("evil\n\u{1b}[31m{}", "x".repeat(10_000));
    let event = auth::login_failed(&name, LoginFailure::UnknownUser);
    assert!(event.validate().is_ok(), "{:?}", event.validate());
    let id = &event.actor.as_ref().expect("actor").id;
    assert!(id.len() <= auth::MAX_CLAIMED_NAME_LEN);
    assert!(!id.chars().any(char::is_control));
}

#[test]
fn no_login_event_carries_a_password_field() {
    let events = [
        auth::login_success("alice"),
        auth::login_failed("alice", LoginFailure::WrongPassword),
        auth::password_changed("alice"),
        auth::password_change_failed("alice", "too short"),
    ];
    for event in events {
        let json = serde_json::to_value(&event.metadata).expect("json");
        let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
        assert!(
            keys.iter().all(|k| !k.to_lowercase().contains("password")),
            "{keys:?}"
        );
    }
}

#[test]
fn logout_is_recorded_for_the_user() {
    let event = auth::logout("alice");
    assert_eq!(event.action, "authn_logout");
    assert_eq!(event.outcome, Outcome::Success);
    assert_eq!(event.actor.as_ref().map(|a| a.id.as_str()), Some("alice"));
}

#[test]
fn password_change_names_the_user_as_entity_and_leaves_the_actor_to_context() {
    let event = auth::password_changed("bob");
    assert_eq!(event.action, "authn_password_change");
    assert_eq!(event.entity_type.as_deref(), Some("user"));
    assert_eq!(event.entity_id.as_deref(), Some("bob"));
    assert!(event.actor.is_none());
    assert_eq!(event.severity, Severity::Notice);
}

#[test]
fn password_change_failure_keeps_the_rule_that_failed() {
    let event = auth::password_change_failed("bob", "too short");
    assert_eq!(event.action, "authn_password_change_fail");
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.reason.as_deref(), Some("too short"));
}

#[test]
fn token_refresh_failure_records_why() {
    let event = auth::token_refresh_failed(Some("alice"), TokenFailure::Expired);
    assert_eq!(event.action, "authn_token_refresh_fail");
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.metadata["failure"], "expired");
    assert_eq!(event.severity, Severity::Warning);
}

#[test]
fn token_reuse_is_critical() {
    let event = auth::token_reused(None);
    assert_eq!(event.action, "authn_token_reuse");
    assert_eq!(event.severity, Severity::Critical);
    assert!(event.actor.is_none());
}

#[test]
fn authz_denial_records_permission_roles_and_missing_assignment() {
    let event = auth::authz_denied("booking:create", ["viewer", "guest"]);
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.category, Category::Authorization);
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.metadata["permission"], "booking:create");
    assert_eq!(
        event.metadata["roles"],
        serde_json::json!(["viewer", "guest"])
    );
    assert_eq!(event.metadata["missing_role_assignment"], true);
    assert_eq!(
        event.reason.as_deref(),
        Some("missing permission booking:create")
    );
}

#[test]
fn authz_denial_builder_sets_actor_resource_and_custom_reason() {
    let event = AuthzDenial::new("booking:delete")
        .actor(audit_core::Actor::user("bob"))
        .roles(["agent"])
        .missing_role_assignment(false)
        .resource("booking", "b-7")
        .reason("not the owner")
        .into_event();
    assert_eq!(event.actor.as_ref().map(|a| a.id.as_str()), Some("bob"));
    assert_eq!(event.entity_id.as_deref(), Some("b-7"));
    assert_eq!(event.reason.as_deref(), Some("not the owner"));
    assert_eq!(event.metadata["missing_role_assignment"], false);
}

#[test]
fn unauthenticated_request_event_keeps_method_and_path() {
    let event = auth::request_unauthenticated("GET", "/audit", 401);
    assert_eq!(event.action, "authn_request_unauthenticated");
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.metadata["path"], "/audit");
    assert_eq!(event.metadata["method"], "GET");
}

#[test]
fn an_unauthenticated_request_answered_with_a_redirect_records_the_status_sent() {
    let event = auth::request_unauthenticated("GET", "/admin/dashboard", 303);
    assert_eq!(event.metadata["status"], 303);
    assert_eq!(
        event.description.as_deref(),
        Some("GET /admin/dashboard answered 303")
    );
    assert!(!event.description.unwrap_or_default().contains("401"));
}

#[test]
fn a_forbidden_request_records_the_status_sent() {
    let event = auth::request_forbidden("GET", "/admin", 404);
    assert_eq!(event.metadata["status"], 404);
    assert_eq!(
        event.description.as_deref(),
        Some("GET /admin answered 404")
    );
}

#[test]
fn forbidden_request_event_is_an_authz_denial_without_a_permission() {
    let event = auth::request_forbidden("DELETE", "/bookings/1", 403);
    assert_eq!(event.action, "authz_fail");
    assert_eq!(event.category, Category::Authorization);
    assert_eq!(event.outcome, Outcome::Denied);
    assert!(event.metadata["permission"].is_null());
    assert_eq!(event.metadata["path"], "/bookings/1");
}

#[test]
fn every_helper_builds_a_valid_event() {
    let events = [
        auth::login_success("a"),
        auth::login_failed("a", LoginFailure::SecondFactorFailed),
        auth::logout("a"),
        auth::password_changed("a"),
        auth::password_change_failed("a", "r"),
        auth::token_refresh_failed(None, TokenFailure::Revoked),
        auth::request_unauthenticated("POST", "/x", 401),
        auth::request_forbidden("POST", "/x", 403),
        auth::authz_denied("p", Vec::<String>::new()),
    ];
    for event in events {
        assert!(event.validate().is_ok(), "{}", event.action);
    }
}

#[test]
fn a_hostile_request_method_still_gives_a_valid_denial_event() {
    // A client chooses the method: an extension method can be thousands of bytes long.
    let method = "X".repeat(5000);
    for event in [
        auth::request_unauthenticated(&method, "/x", 401),
        auth::request_forbidden(&method, "/x", 403),
    ] {
        assert_eq!(event.validate(), Ok(()), "{}", event.action);
    }
}

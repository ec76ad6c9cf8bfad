//! Each option of `#[audited(...)]` ends up in the recorded event.

use audit_core::testing::capture;
use audit_core::{Actor, ActorKind, AuditContext, Category, Outcome, Severity, audited};
use serde::Serialize;

#[derive(Debug)]
struct Booking {
    id: u64,
    seats: u32,
}

/// Deliberately neither `Clone` nor `Copy`: options must work by reference.
#[derive(Debug, Serialize)]
struct NewBooking {
    flight: String,
    seats: u32,
}

struct User {
    id: String,
}

#[derive(Debug)]
struct Full;

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("flight full")
    }
}

#[audited("FTMS_BOOKING_CREATED", entity_type = "booking", entity_id = |b| b.id)]
fn create_booking(req: NewBooking) -> Result<Booking, Full> {
    if req.seats > 9 {
        return Err(Full);
    }
    Ok(Booking {
        id: 42,
        seats: req.seats,
    })
}

#[test]
fn entity_id_closure_is_applied_to_the_success_value() {
    let (booking, captured) = capture(|| {
        create_booking(NewBooking {
            flight: "LH1".into(),
            seats: 2,
        })
    });
    assert_eq!(booking.map(|b| b.seats).ok(), Some(2));
    let event = captured.single();
    assert_eq!(event.entity_type.as_deref(), Some("booking"));
    assert_eq!(event.entity_id.as_deref(), Some("42"));
}

#[test]
fn entity_id_closure_is_not_applied_on_failure() {
    let (_, captured) = capture(|| {
        create_booking(NewBooking {
            flight: "LH1".into(),
            seats: 10,
        })
    });
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.entity_type.as_deref(), Some("booking"));
    assert_eq!(event.entity_id, None);
}

#[audited("PLAIN_ENTITY", entity_type = "count", entity_id = |n| n * 10)]
fn plain_entity() -> u32 {
    4
}

#[test]
fn entity_id_closure_on_a_plain_value_gets_the_value() {
    let (_, captured) = capture(plain_entity);
    assert_eq!(captured.single().entity_id.as_deref(), Some("40"));
}

#[audited("FLIGHT_CANCELLED", entity_type = "flight", entity_id = req.flight)]
fn consume(req: NewBooking) -> u32 {
    let NewBooking { flight, seats } = req;
    drop(flight);
    seats
}

#[test]
fn entity_id_expression_over_a_moved_argument_is_evaluated_before_the_body() {
    let (_, captured) = capture(|| {
        consume(NewBooking {
            flight: "LH9".into(),
            seats: 1,
        })
    });
    assert_eq!(captured.single().entity_id.as_deref(), Some("LH9"));
}

#[audited("ACTOR_FROM_ARG", actor = Actor::service(&caller.id))]
fn actor_from_argument(caller: User) -> usize {
    caller.id.len()
}

#[test]
fn actor_expression_sets_the_actor() {
    let (_, captured) = capture(|| {
        actor_from_argument(User {
            id: "billing".into(),
        })
    });
    assert_eq!(captured.single().actor, Some(Actor::service("billing")));
}

#[audited("ACTOR_FROM_STR", actor = user_id)]
fn actor_from_str(user_id: &str) {
    let _ = user_id;
}

#[test]
fn actor_string_is_a_user_id() {
    let (_, captured) = capture(|| actor_from_str("bob"));
    let actor = captured.single().actor.clone();
    assert_eq!(actor.as_ref().map(|a| a.id.as_str()), Some("bob"));
    assert_eq!(actor.map(|a| a.kind), Some(ActorKind::User));
}

#[test]
fn actor_option_wins_over_the_context_actor() {
    let (_, captured) = capture(|| {
        AuditContext::new()
            .actor(Actor::user("ctx"))
            .sync_scope(|| actor_from_str("explicit"))
    });
    assert_eq!(captured.single().actor, Some(Actor::user("explicit")));
}

#[audited("NO_ACTOR")]
fn no_actor() {}

#[test]
fn context_actor_and_request_id_are_attached_to_a_sync_call() {
    let (_, captured) = capture(|| {
        AuditContext::new()
            .actor(Actor::user("alice"))
            .request_id("r-7")
            .tenant("acme")
            .sync_scope(no_actor)
    });
    let event = captured.single();
    assert_eq!(event.actor, Some(Actor::user("alice")));
    assert_eq!(event.request_id.as_deref(), Some("r-7"));
    assert_eq!(event.tenant.as_deref(), Some("acme"));
}

#[audited(
    "DESCRIBED",
    description = "{user.id} booked {req.seats} seats on {req.flight:?} {{literally}}"
)]
fn described(user: &User, req: NewBooking) -> u32 {
    req.seats
}

#[test]
fn description_interpolates_named_arguments() {
    let user = User { id: "alice".into() };
    let (_, captured) = capture(|| {
        described(
            &user,
            NewBooking {
                flight: "LH1".into(),
                seats: 3,
            },
        )
    });
    assert_eq!(
        captured.single().description.as_deref(),
        Some("alice booked 3 seats on \"LH1\" {literally}")
    );
}

#[audited("AUTH_CHECK", category = authorization, severity = Warning)]
fn categorized() {}

#[audited("SYS_TASK", category = "system", severity = "critical")]
fn categorized_by_string() {}

#[audited("DEFAULTS")]
fn defaults() {}

#[test]
fn category_and_severity_can_be_set_by_name() {
    let (_, captured) = capture(categorized);
    let event = captured.single();
    assert_eq!(event.category, Category::Authorization);
    assert_eq!(event.severity, Severity::Warning);
}

#[test]
fn category_and_severity_can_be_set_by_string() {
    let (_, captured) = capture(categorized_by_string);
    let event = captured.single();
    assert_eq!(event.category, Category::System);
    assert_eq!(event.severity, Severity::Critical);
}

#[test]
fn category_defaults_to_business_and_severity_to_info() {
    let (_, captured) = capture(defaults);
    let event = captured.single();
    assert_eq!(event.category, Category::Business);
    assert_eq!(event.severity, Severity::Info);
}

#[audited("WITH_METADATA", metadata(flight = req.flight, request = req, r#type = "x"))]
fn with_metadata(req: NewBooking) -> u32 {
    req.seats
}

#[test]
fn metadata_values_are_serialized_through_serde() {
    let (_, captured) = capture(|| {
        with_metadata(NewBooking {
            flight: "LH1".into(),
            seats: 2,
        })
    });
    let metadata = &captured.single().metadata;
    assert_eq!(metadata["flight"], "LH1");
    assert_eq!(metadata["request"]["seats"], 2);
    assert_eq!(metadata["type"], "x");
}

#[test]
fn duration_is_recorded_in_metadata() {
    let (_, captured) = capture(defaults);
    assert!(captured.single().metadata["duration_us"].is_u64());
}

#[audited("SECRET_ARGS")]
fn secret_args(password: &str) -> usize {
    password.len()
}

#[test]
fn arguments_are_not_logged_unless_named() {
    let (_, captured) = capture(|| secret_args("hunter2"));
    let json = serde_json::to_string(captured.single()).unwrap();
    assert!(!json.contains("hunter2"));
}

#[test]
fn failure_reason_is_length_capped() {
    #[derive(Debug)]
    struct Long;
    impl std::fmt::Display for Long {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&"x".repeat(10_000))
        }
    }
    #[audited("LONG_REASON")]
    fn long() -> Result<(), Long> {
        Err(Long)
    }
    let (_, captured) = capture(long);
    let reason = captured.single().reason.clone().unwrap_or_default();
    assert!(reason.len() <= audit_core::validate::MAX_TEXT_LEN);
    assert!(reason.ends_with('…'));
}

mod renamed {
    pub use audit_core as audit;
}

#[audited("RENAMED_CRATE", crate = renamed::audit)]
fn through_renamed_crate() {}

#[test]
fn crate_option_points_the_generated_code_at_a_renamed_path() {
    let (_, captured) = capture(through_renamed_crate);
    assert_eq!(captured.single().action, "RENAMED_CRATE");
}

#[derive(Debug, Serialize, PartialEq)]
struct Profile {
    email: String,
    password: String,
    seats: u32,
}

/// An update handler: the state before (from the arguments) and after (from the success
/// value) give the event its change set, with no code in the body.
#[audited("PROFILE_UPDATED", entity_type = "profile", before = current, after = |p| p)]
fn update_profile(current: &Profile, email: &str) -> Result<Profile, Full> {
    if email.is_empty() {
        return Err(Full);
    }
    Ok(Profile {
        email: email.to_owned(),
        password: current.password.clone(),
        seats: current.seats,
    })
}

#[test]
fn before_and_after_record_the_change_set_of_a_success() {
    let current = Profile {
        email: "a@example.com".into(),
        password: "secret".into(),
        seats: 2,
    };
    let (_, captured) = capture(|| update_profile(&current, "b@example.com"));
    let changes = &captured.single().metadata["changes"];
    assert_eq!(changes["changed"], serde_json::json!(["/email"]));
    assert_eq!(changes["old"]["email"], "a@example.com");
    assert_eq!(changes["new"]["email"], "b@example.com");
    assert!(
        changes["old"].get("password").is_none(),
        "unchanged fields stay out"
    );

    // A failed update changed nothing: no change set.
    let (_, captured) = capture(|| update_profile(&current, ""));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert!(event.metadata.get("changes").is_none());
}

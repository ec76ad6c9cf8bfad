//! Alert rules: thresholds over sliding windows, grouping, handler calls, bounded memory.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_alert::{ALERT_ACTION, Alert, AlertEngine, AlertRule, EventMatch, GroupBy, ManualClock};
use audit_core::auth::{self, LoginFailure};
use audit_core::{Actor, AuditEvent, Category, EventObserver, Outcome, Severity};

fn failed_login_from(ip: IpAddr) -> AuditEvent {
    let mut event = auth::login_failed("mallory", LoginFailure::WrongPassword);
    event.ip = Some(ip);
    event
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
}

fn denial_for(actor: &str) -> AuditEvent {
    let mut event = auth::authz_denied("booking:create", ["viewer"]);
    event.actor = Some(Actor::user(actor));
    event
}

type Seen = Arc<Mutex<Vec<Alert>>>;

fn engine(rule: AlertRule) -> (AlertEngine, ManualClock, Seen) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let clock = ManualClock::starting_now();
    let engine = AlertEngine::new(move |alert: &Alert| {
        sink.lock().expect("lock").push(alert.clone());
    })
    .with_clock(clock.clone())
    .rule(rule);
    (engine, clock, seen)
}

fn five_per_five_minutes() -> AlertRule {
    AlertRule::failed_logins_per_ip(5, Duration::from_secs(300))
}

#[test]
fn five_failed_logins_from_one_ip_within_the_window_fire_one_alert() {
    let (engine, clock, _) = engine(five_per_five_minutes());
    let mut alerts = Vec::new();
    for _ in 0..5 {
        alerts.extend(engine.observe(&failed_login_from(ip(1))));
        clock.advance(Duration::from_secs(30));
    }
    assert_eq!(alerts.len(), 1);
}

#[test]
fn four_failed_logins_do_not_fire() {
    let (engine, _, seen) = engine(five_per_five_minutes());
    for _ in 0..4 {
        assert!(engine.observe(&failed_login_from(ip(1))).is_empty());
    }
    assert!(seen.lock().expect("lock").is_empty());
}

#[test]
fn failures_spread_beyond_the_window_do_not_fire() {
    let (engine, clock, _) = engine(five_per_five_minutes());
    let mut alerts = Vec::new();
    for _ in 0..10 {
        alerts.extend(engine.observe(&failed_login_from(ip(1))));
        clock.advance(Duration::from_secs(76));
    }
    assert!(alerts.is_empty());
}

#[test]
fn the_window_slides_rather_than_resetting() {
    let (engine, clock, _) = engine(five_per_five_minutes());
    // Two early failures fall out of the window; the last five are within 300 s.
    for _ in 0..2 {
        assert!(engine.observe(&failed_login_from(ip(1))).is_empty());
    }
    clock.advance(Duration::from_secs(400));
    let mut alerts = Vec::new();
    for _ in 0..5 {
        alerts.extend(engine.observe(&failed_login_from(ip(1))));
        clock.advance(Duration::from_secs(60));
    }
    assert_eq!(alerts.len(), 1);
}

#[test]
fn failures_from_different_ips_are_counted_apart() {
    let (engine, _, _) = engine(five_per_five_minutes());
    let mut alerts = Vec::new();
    for n in 0..4 {
        alerts.extend(engine.observe(&failed_login_from(ip(1))));
        alerts.extend(engine.observe(&failed_login_from(ip(2 + n))));
    }
    assert!(alerts.is_empty());
}

#[test]
fn the_alert_event_is_critical_system_and_names_the_rule_and_key() {
    let (engine, _, _) = engine(five_per_five_minutes());
    let alerts: Vec<_> = (0..5)
        .flat_map(|_| engine.observe(&failed_login_from(ip(9))))
        .collect();
    let alert = &alerts[0];
    assert_eq!(alert.action, ALERT_ACTION);
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.category, Category::System);
    assert_eq!(alert.metadata["rule"], "failed_logins_per_ip");
    assert_eq!(alert.metadata["key"], "203.0.113.9");
    assert_eq!(alert.metadata["count"], 5);
    assert_eq!(alert.ip, Some(ip(9)));
    assert!(alert.validate().is_ok());
}

#[test]
fn the_handler_is_called_with_the_alert() {
    let (engine, _, seen) = engine(five_per_five_minutes());
    for _ in 0..5 {
        engine.observe(&failed_login_from(ip(3)));
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].key, "203.0.113.3");
    assert_eq!(seen[0].group_by, GroupBy::Ip);
    assert_eq!(seen[0].rule, "failed_logins_per_ip");
}

#[test]
fn after_firing_the_group_needs_a_full_threshold_again() {
    let (engine, _, _) = engine(five_per_five_minutes());
    let fired: Vec<usize> = (0..10)
        .map(|_| engine.observe(&failed_login_from(ip(1))).len())
        .collect();
    assert_eq!(fired, [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
}

#[test]
fn ten_denials_for_one_actor_in_a_minute_fire() {
    let rule = AlertRule::denials_per_actor(10, Duration::from_secs(60));
    let (engine, clock, seen) = engine(rule);
    for _ in 0..10 {
        engine.observe(&denial_for("bob"));
        clock.advance(Duration::from_secs(5));
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].key, "bob");
}

#[test]
fn events_that_do_not_match_are_not_counted() {
    let (engine, _, _) = engine(five_per_five_minutes());
    let mut success = auth::login_success("alice");
    success.ip = Some(ip(1));
    let alerts: Vec<_> = (0..10).flat_map(|_| engine.observe(&success)).collect();
    assert!(alerts.is_empty());
}

#[test]
fn events_without_the_group_key_are_not_counted() {
    let (engine, _, _) = engine(five_per_five_minutes());
    let no_ip = auth::login_failed("mallory", LoginFailure::WrongPassword);
    let alerts: Vec<_> = (0..10).flat_map(|_| engine.observe(&no_ip)).collect();
    assert!(alerts.is_empty());
}

#[test]
fn grouping_by_action_counts_every_actor_together() {
    let rule = AlertRule::new("deletes")
        .matching(EventMatch::any().action("FTMS_BOOKING_DELETED"))
        .group_by(GroupBy::Action)
        .threshold(3);
    let (engine, _, _) = engine(rule);
    let alerts: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .flat_map(|who| {
            engine.observe(
                &AuditEvent::builder("FTMS_BOOKING_DELETED")
                    .actor(Actor::user(who))
                    .build(),
            )
        })
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].metadata["key"], "FTMS_BOOKING_DELETED");
}

#[test]
fn a_custom_predicate_narrows_the_match() {
    let rule = AlertRule::new("big_bookings")
        .matching(
            EventMatch::any()
                .category(Category::Business)
                .when(|e| e.metadata["seats"].as_u64().is_some_and(|s| s > 10)),
        )
        .threshold(1);
    let (engine, _, _) = engine(rule);
    let small = AuditEvent::builder("B")
        .actor(Actor::user("a"))
        .metadata_entry("seats", 2)
        .build();
    let big = AuditEvent::builder("B")
        .actor(Actor::user("a"))
        .metadata_entry("seats", 20)
        .build();
    assert!(engine.observe(&small).is_empty());
    assert_eq!(engine.observe(&big).len(), 1);
}

#[test]
fn outcome_and_prefix_filters_combine() {
    let matcher = EventMatch::any()
        .action_prefix("authn_")
        .outcome(Outcome::Failure);
    assert!(matcher.matches(&auth::login_failed("x", LoginFailure::UnknownUser)));
    assert!(!matcher.matches(&auth::login_success("x")));
    assert!(!matcher.matches(&auth::authz_denied("p", ["r"])));
}

#[test]
fn alert_events_never_count_towards_rules() {
    let rule = AlertRule::new("everything")
        .matching(EventMatch::any())
        .threshold(1);
    let (engine, _, _) = engine(rule);
    let first = engine.observe(&AuditEvent::builder("X").actor(Actor::user("a")).build());
    assert_eq!(first.len(), 1);
    assert!(engine.observe(&first[0]).is_empty());
}

#[test]
fn tracked_keys_never_exceed_the_cap_with_100k_distinct_ips() {
    let rule = five_per_five_minutes().max_tracked_keys(1000);
    let (engine, _, _) = engine(rule);
    for n in 0..100_000u32 {
        let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
        engine.observe(&failed_login_from(addr));
        assert!(engine.tracked_keys("failed_logins_per_ip").unwrap_or(0) <= 1000);
    }
    assert_eq!(engine.tracked_keys("failed_logins_per_ip"), Some(1000));
}

#[test]
fn expired_windows_are_pruned() {
    let (engine, clock, _) = engine(five_per_five_minutes());
    for n in 0..50 {
        engine.observe(&failed_login_from(ip(n)));
    }
    assert_eq!(engine.tracked_keys("failed_logins_per_ip"), Some(50));
    clock.advance(Duration::from_secs(301));
    engine.observe(&failed_login_from(ip(200)));
    assert_eq!(engine.tracked_keys("failed_logins_per_ip"), Some(1));
}

#[test]
fn eviction_forgets_the_least_recently_seen_key() {
    let rule = AlertRule::failed_logins_per_ip(2, Duration::from_secs(300)).max_tracked_keys(2);
    let (engine, clock, _) = engine(rule);
    engine.observe(&failed_login_from(ip(1)));
    clock.advance(Duration::from_secs(1));
    engine.observe(&failed_login_from(ip(2)));
    clock.advance(Duration::from_secs(1));
    engine.observe(&failed_login_from(ip(3))); // evicts ip 1, the oldest
    clock.advance(Duration::from_secs(1));
    // ip 2 still has its first failure, so its second fires; ip 1 starts over.
    assert_eq!(engine.observe(&failed_login_from(ip(2))).len(), 1);
    assert!(engine.observe(&failed_login_from(ip(1))).is_empty());
}

#[test]
fn several_rules_fire_independently_on_one_event() {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let engine = AlertEngine::new(move |a: &Alert| sink.lock().expect("lock").push(a.clone()))
        .with_clock(ManualClock::starting_now())
        .rule(
            AlertRule::new("per_actor")
                .matching(EventMatch::any())
                .group_by(GroupBy::Actor),
        )
        .rule(
            AlertRule::new("per_action")
                .matching(EventMatch::any())
                .group_by(GroupBy::Action),
        );
    let alerts = engine.observe(&AuditEvent::builder("X").actor(Actor::user("a")).build());
    assert_eq!(alerts.len(), 2);
    assert_eq!(seen.lock().expect("lock").len(), 2);
}

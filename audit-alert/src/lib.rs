//! # audit-alert
//!
//! Alert rules evaluated in the pipeline: "5 failed logins from one IP in 5 minutes".
//!
//! A policy plug-in, outside the vocabulary crate: an [`AlertEngine`] holds [`AlertRule`]s and
//! implements [`EventObserver`], so the `Auditor` (crate `audit-pipeline`, registered with
//! `AuditorBuilder::observer`) runs it on every event it records. Each rule counts the events
//! that pass its [`EventMatch`], grouped by actor, IP or action ([`GroupBy`]), over a sliding
//! window. When one group reaches the threshold the rule *fires*:
//!
//! - it returns an alert event ([`ALERT_ACTION`], category system, severity critical), which
//!   the pipeline records like any other event, so alerts are in the tamper-evident log;
//! - it calls the [`AlertHandler`] the application supplied (page someone, block the IP);
//! - it forgets that group's window, so the next alert for the same group needs another
//!   `threshold` matching events rather than firing on every event after the first alert.
//!
//! Memory is bounded however many distinct keys appear: each group keeps at most
//! `threshold` timestamps, groups whose window has expired are pruned on every event, and
//! each rule tracks at most [`AlertRule::max_tracked_keys`] groups, evicting the least
//! recently seen one when a new group would exceed it.
//!
//! Time comes from a [`Clock`] (the system clock unless one is injected with
//! [`AlertEngine::with_clock`]), not from the events' `occurred_at`: callers may set that
//! field themselves, and hosts' clocks drift, while an alert is about what is happening now.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use audit_alert::{AlertEngine, AlertRule, ManualClock};
//! use audit_core::{auth, auth::LoginFailure, EventObserver, Severity};
//!
//! let fired = Arc::new(Mutex::new(Vec::new()));
//! let seen = fired.clone();
//! let clock = ManualClock::starting_now();
//! let engine = AlertEngine::new(move |alert: &audit_alert::Alert| {
//!     seen.lock().unwrap().push(alert.key.clone());
//! })
//! .with_clock(clock.clone())
//! .rule(AlertRule::failed_logins_per_ip(3, Duration::from_secs(300)));
//!
//! let mut alerts = Vec::new();
//! for _ in 0..3 {
//!     let mut event = auth::login_failed("mallory", LoginFailure::WrongPassword);
//!     event.ip = Some("203.0.113.9".parse().unwrap());
//!     alerts.extend(engine.observe(&event));
//!     clock.advance(Duration::from_secs(10));
//! }
//! assert_eq!(alerts.len(), 1);
//! assert_eq!(alerts[0].severity, Severity::Critical);
//! assert_eq!(*fired.lock().unwrap(), vec!["203.0.113.9".to_string()]);
//! ```

#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use audit_core::auth::codes;
use audit_core::event::{Actor, AuditEvent, Category, Outcome, Severity};
use audit_core::observer::EventObserver;
use audit_core::query::ActionFilter;

/// The action code of every alert event.
pub const ALERT_ACTION: &str = "AUDIT_ALERT_FIRED";

/// Default for [`AlertRule::max_tracked_keys`].
pub const DEFAULT_MAX_TRACKED_KEYS: usize = 10_000;

/// A source of the current time; inject one to test rules deterministically.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(at)),
        }
    }

    /// A clock stopped at the current system time.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        let mut now = lock(&self.now);
        *now = now.checked_add_signed(by).unwrap_or(*now);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *lock(&self.now) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent-enough counters; keep alerting.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a rule counts per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupBy {
    /// The actor's id. Events without an actor are not counted.
    Actor,
    /// The client IP. Events without an IP are not counted.
    Ip,
    /// The action code.
    Action,
}

impl GroupBy {
    /// The stable name used in alert metadata.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Actor => "actor",
            Self::Ip => "ip",
            Self::Action => "action",
        }
    }

    fn key(&self, event: &AuditEvent) -> Option<String> {
        match self {
            Self::Actor => event.actor.as_ref().map(|a| a.id.clone()),
            Self::Ip => event.ip.map(|ip| ip.to_canonical().to_string()),
            Self::Action => Some(event.action.to_string()),
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Predicate = Arc<dyn Fn(&AuditEvent) -> bool + Send + Sync>;

/// Which events a rule counts. Every condition set must hold; an empty match counts every
/// event except alert events themselves.
#[derive(Clone, Default)]
pub struct EventMatch {
    actions: Vec<ActionFilter>,
    outcome: Option<Outcome>,
    category: Option<Category>,
    predicate: Option<Predicate>,
}

impl fmt::Debug for EventMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventMatch")
            .field("actions", &self.actions)
            .field("outcome", &self.outcome)
            .field("category", &self.category)
            .field("predicate", &self.predicate.as_ref().map(|_| ".."))
            .finish()
    }
}

impl EventMatch {
    /// Matches every event.
    pub fn any() -> Self {
        Self::default()
    }

    /// Events with exactly this action code (call again to accept several codes).
    pub fn action(mut self, code: impl Into<String>) -> Self {
        self.actions.push(ActionFilter::Exact(code.into()));
        self
    }

    /// Events whose action code starts with `prefix` (call again to accept several).
    pub fn action_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.actions.push(ActionFilter::Prefix(prefix.into()));
        self
    }

    /// Events with this outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Events of this category.
    pub fn category(mut self, category: Category) -> Self {
        self.category = Some(category);
        self
    }

    /// Events for which `predicate` returns true (in addition to the other conditions).
    pub fn when(mut self, predicate: impl Fn(&AuditEvent) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Whether `event` passes every condition.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        event.action != ALERT_ACTION
            && (self.actions.is_empty()
                || self.actions.iter().any(|filter| match filter {
                    ActionFilter::Exact(code) => event.action == code.as_str(),
                    ActionFilter::Prefix(prefix) => event.action.starts_with(prefix.as_str()),
                }))
            && self.outcome.is_none_or(|o| o == event.outcome)
            && self.category.is_none_or(|c| c == event.category)
            && self.predicate.as_ref().is_none_or(|p| p(event))
    }
}

/// A threshold over a sliding window, grouped by actor, IP or action.
#[derive(Debug, Clone)]
pub struct AlertRule {
    name: String,
    matcher: EventMatch,
    group_by: GroupBy,
    threshold: usize,
    window: Duration,
    max_tracked_keys: usize,
}

impl AlertRule {
    /// A rule named `name` that, until configured, fires on 1 event of any kind per actor
    /// within one minute.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            matcher: EventMatch::any(),
            group_by: GroupBy::Actor,
            threshold: 1,
            window: Duration::from_secs(60),
            max_tracked_keys: DEFAULT_MAX_TRACKED_KEYS,
        }
    }

    /// `threshold` failed logins (any `authn_login_*` failure) from one IP within `window`.
    pub fn failed_logins_per_ip(threshold: usize, window: Duration) -> Self {
        Self::new("failed_logins_per_ip")
            .matching(
                EventMatch::any()
                    .action(codes::LOGIN_FAIL)
                    .action(codes::LOGIN_LOCK)
                    .action(codes::LOGIN_INACTIVE)
                    .outcome(Outcome::Failure),
            )
            .group_by(GroupBy::Ip)
            .threshold(threshold)
            .within(window)
    }

    /// `threshold` authorization denials for one actor within `window`.
    pub fn denials_per_actor(threshold: usize, window: Duration) -> Self {
        Self::new("denials_per_actor")
            .matching(
                EventMatch::any()
                    .category(Category::Authorization)
                    .outcome(Outcome::Denied),
            )
            .group_by(GroupBy::Actor)
            .threshold(threshold)
            .within(window)
    }

    /// Which events count.
    pub fn matching(mut self, matcher: EventMatch) -> Self {
        self.matcher = matcher;
        self
    }

    /// What the events are grouped by.
    pub fn group_by(mut self, group_by: GroupBy) -> Self {
        self.group_by = group_by;
        self
    }

    /// How many matching events in one group fire the rule (at least 1).
    pub fn threshold(mut self, threshold: usize) -> Self {
        self.threshold = threshold.max(1);
        self
    }

    /// The length of the sliding window.
    pub fn within(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The most groups tracked at once (at least 1); beyond it the least recently seen
    /// group is forgotten. Default [`DEFAULT_MAX_TRACKED_KEYS`].
    pub fn max_tracked_keys(mut self, max: usize) -> Self {
        self.max_tracked_keys = max.max(1);
        self
    }

    /// The rule's name, as stored in alert events.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A rule that fired, as handed to the [`AlertHandler`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// What the rule groups by.
    pub group_by: GroupBy,
    /// The group that reached the threshold (an IP, an actor id, an action code).
    pub key: String,
    /// How many matching events were in the window (the threshold).
    pub count: usize,
    /// The window length.
    pub window: Duration,
    /// When the rule fired (the engine's clock).
    pub fired_at: DateTime<Utc>,
    /// The alert event the pipeline records.
    pub event: AuditEvent,
}

/// Receives every fired alert. Runs on the pipeline's worker: keep it quick and hand slow
/// work (email, paging) to a channel or a spawned task.
pub trait AlertHandler: Send + Sync + 'static {
    /// Called once per fired alert.
    fn on_alert(&self, alert: &Alert);
}

impl<F> AlertHandler for F
where
    F: Fn(&Alert) + Send + Sync + 'static,
{
    fn on_alert(&self, alert: &Alert) {
        self(alert)
    }
}

/// A handler that emits a `tracing` warning per alert (and nothing else).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAlertHandler;

impl AlertHandler for TracingAlertHandler {
    fn on_alert(&self, alert: &Alert) {
        tracing::warn!(
            rule = %alert.rule,
            group_by = %alert.group_by,
            key = %alert.key,
            count = alert.count,
            "audit alert fired"
        );
    }
}

#[derive(Debug, Default)]
struct Window {
    stamps: VecDeque<DateTime<Utc>>,
    last_seen: DateTime<Utc>,
    tick: u64,
}

/// Per-rule state: windows by key plus an index ordered by (last seen, tick) so both the
/// expired and the least recently seen groups are at its front.
#[derive(Debug, Default)]
struct RuleState {
    windows: HashMap<String, Window>,
    by_age: BTreeMap<(DateTime<Utc>, u64), String>,
    next_tick: u64,
}

impl RuleState {
    fn prune_expired(&mut self, cutoff: DateTime<Utc>) {
        while let Some(entry) = self.by_age.first_entry() {
            if entry.key().0 > cutoff {
                break;
            }
            let key = entry.remove();
            self.windows.remove(&key);
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((_, key)) = self.by_age.pop_first() {
            self.windows.remove(&key);
        }
    }

    /// Counts one event for `key`; returns the count if it reached `threshold`.
    fn hit(&mut self, rule: &AlertRule, key: String, now: DateTime<Utc>) -> Option<usize> {
        let cutoff = chrono::Duration::from_std(rule.window)
            .ok()
            .and_then(|window| now.checked_sub_signed(window))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.prune_expired(cutoff);
        if !self.windows.contains_key(&key) && self.windows.len() >= rule.max_tracked_keys {
            self.evict_oldest();
        }
        let tick = self.next_tick;
        self.next_tick += 1;
        let window = self.windows.entry(key.clone()).or_default();
        if !window.stamps.is_empty() {
            self.by_age.remove(&(window.last_seen, window.tick));
        }
        while window.stamps.front().is_some_and(|t| *t <= cutoff) {
            window.stamps.pop_front();
        }
        window.stamps.push_back(now);
        while window.stamps.len() > rule.threshold {
            window.stamps.pop_front();
        }
        if window.stamps.len() >= rule.threshold {
            let count = window.stamps.len();
            self.windows.remove(&key);
            return Some(count);
        }
        window.last_seen = now;
        window.tick = tick;
        self.by_age.insert((now, tick), key);
        None
    }
}

struct RuleSlot {
    rule: AlertRule,
    state: Mutex<RuleState>,
}

impl RuleSlot {
    fn new(rule: AlertRule) -> Self {
        Self {
            rule,
            state: Mutex::new(RuleState::default()),
        }
    }
}

struct Inner {
    rules: Vec<RuleSlot>,
    handler: Arc<dyn AlertHandler>,
    clock: Arc<dyn Clock>,
}

/// Evaluates alert rules on every recorded event; register it with the pipeline as an
/// [`EventObserver`]. Clones share rules, state and handler.
#[derive(Clone)]
pub struct AlertEngine {
    inner: Arc<Inner>,
}

impl fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertEngine")
            .field(
                "rules",
                &self
                    .inner
                    .rules
                    .iter()
                    .map(|slot| &slot.rule)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl AlertEngine {
    /// An engine with no rules that reports fired alerts to `handler`.
    pub fn new(handler: impl AlertHandler) -> Self {
        Self {
            inner: Arc::new(Inner {
                rules: Vec::new(),
                handler: Arc::new(handler),
                clock: Arc::new(SystemClock),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        // Configuration normally happens before the engine is shared. If a clone exists,
        // copy the configuration (with fresh counters) rather than change the clone's.
        if Arc::get_mut(&mut self.inner).is_none() {
            let old = &*self.inner;
            self.inner = Arc::new(Inner {
                rules: old
                    .rules
                    .iter()
                    .map(|slot| RuleSlot::new(slot.rule.clone()))
                    .collect(),
                handler: old.handler.clone(),
                clock: old.clock.clone(),
            });
        }
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner,
            None => unreachable!("a freshly built Arc is unique"),
        }
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: AlertRule) -> Self {
        self.inner_mut().rules.push(RuleSlot::new(rule));
        self
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.inner_mut().clock = Arc::new(clock);
        self
    }

    /// How many groups the rule named `rule` currently tracks (for tests and metrics).
    pub fn tracked_keys(&self, rule: &str) -> Option<usize> {
        self.inner
            .rules
            .iter()
            .find(|slot| slot.rule.name == rule)
            .map(|slot| lock(&slot.state).windows.len())
    }

    fn alert_event(rule: &AlertRule, key: &str, count: usize, now: DateTime<Utc>) -> AuditEvent {
        let window_secs = rule.window.as_secs();
        let mut builder = AuditEvent::builder(ALERT_ACTION)
            .category(Category::System)
            .severity(Severity::Critical)
            .actor(Actor::system("audit-alert"))
            .entity("alert_rule", rule.name.clone())
            .occurred_at(now)
            .description(format!(
                "alert {}: {count} matching events for {} {key} within {window_secs}s",
                rule.name, rule.group_by
            ))
            .metadata(json!({
                "rule": rule.name,
                "group_by": rule.group_by.as_str(),
                "key": key,
                "count": count,
                "threshold": rule.threshold,
                "window_seconds": window_secs,
            }));
        if rule.group_by == GroupBy::Ip
            && let Ok(ip) = key.parse()
        {
            builder = builder.ip(ip);
        }
        builder.build()
    }
}

impl EventObserver for AlertEngine {
    fn observe(&self, event: &AuditEvent) -> Vec<AuditEvent> {
        let mut alerts = Vec::new();
        let mut now = None;
        for slot in &self.inner.rules {
            if !slot.rule.matcher.matches(event) {
                continue;
            }
            let Some(key) = slot.rule.group_by.key(event) else {
                continue;
            };
            let at = *now.get_or_insert_with(|| self.inner.clock.now());
            let fired = lock(&slot.state).hit(&slot.rule, key.clone(), at);
            if let Some(count) = fired {
                let event = Self::alert_event(&slot.rule, &key, count, at);
                let alert = Alert {
                    rule: slot.rule.name.clone(),
                    group_by: slot.rule.group_by,
                    key,
                    count,
                    window: slot.rule.window,
                    fired_at: at,
                    event,
                };
                self.inner.handler.on_alert(&alert);
                alerts.push(alert.event);
            }
        }
        alerts
    }
}

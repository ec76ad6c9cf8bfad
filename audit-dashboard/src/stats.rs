//! Pre-aggregated counts for the overview, so a page view never scans the log.
//!
//! `AuditStore::count_by` over 30 days is a scan of every event in the range (tens of
//! milliseconds per grouping at 1M events in SQLite, and the overview needs half a dozen),
//! so the dashboard keeps its own counts instead, without touching any backend's schema:
//!
//! - one bucket per UTC hour and one per UTC day, each counting events by outcome and
//!   category, and (hours of the last [`DETAILED_HOURS`] and all days) by action and actor;
//! - built once in the background from the store (from the first event of the window,
//!   found by a binary search over `seq`), then kept current from `seq > last_seen` by a
//!   refresh every second. `seq` is gap-free and assigned in commit order across writers,
//!   so nothing is missed or counted twice;
//! - events older than the window (31 days) are dropped from the buckets.
//!
//! Costs: memory grows with the distinct (actor, day) and (action, day) pairs in the window;
//! a 30-day summary merges 30 day buckets. An event that arrives with a time far before its
//! neighbours (a spool replayed after days) is still counted in its own hour, as long as
//! that hour is inside the window.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use audit_core::query::{AuditQuery, Cursor, Order};
use audit_core::{AuditStore, Category, Outcome, StoreError, StoredEvent};
use chrono::{DateTime, Utc};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// How far back the buckets reach.
const WINDOW_DAYS: i64 = 31;
/// Hour buckets keep their per-actor and per-action counts this long (the 24 h view).
pub(crate) const DETAILED_HOURS: i64 = 25;
/// Records read per store query while catching up.
const PAGE: u32 = 1000;
/// How many entries the top lists show.
const TOP: usize = 10;

/// The overview's time ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Range {
    /// The last 24 hours, in hourly bars (hour-aligned: the current hour and 23 before).
    Day,
    /// Today and the 6 days before (UTC), in 6-hour bars.
    Week,
    /// Today and the 29 days before (UTC), in daily bars.
    Month,
}

impl Range {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "24h" => Some(Self::Day),
            "7d" => Some(Self::Week),
            "30d" => Some(Self::Month),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    pub(crate) const ALL: [Range; 3] = [Self::Day, Self::Week, Self::Month];

    /// The range's first second (inclusive), its bar width, and whether its totals come
    /// from hour buckets (else day buckets).
    fn window(&self, now: i64) -> (i64, i64, bool) {
        let hour = now.div_euclid(HOUR) * HOUR;
        let day = now.div_euclid(DAY) * DAY;
        match self {
            Self::Day => (hour - 23 * HOUR, HOUR, true),
            Self::Week => (day - 6 * DAY, 6 * HOUR, false),
            Self::Month => (day - 29 * DAY, DAY, false),
        }
    }
}

/// Counts of one hour or one day.
#[derive(Debug, Default, Clone)]
struct Bucket {
    /// By (outcome, category): at most a dozen pairs, so a list beats a map.
    counts: Vec<((Outcome, Category), u64)>,
    actions: HashMap<u32, u64>,
    actors: HashMap<u32, u64>,
}

impl Bucket {
    fn add(&mut self, outcome: Outcome, category: Category, action: u32, actor: Option<u32>) {
        let key = (outcome, category);
        match self.counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((key, 1)),
        }
        *self.actions.entry(action).or_default() += 1;
        if let Some(actor) = actor {
            *self.actors.entry(actor).or_default() += 1;
        }
    }
}

/// Names (actions, actors) stored once, counted by number.
#[derive(Debug, Default)]
struct Names {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

/// How far the build has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// The first pass is still reading the window (`seq` reached, head when it started).
    Building { at: u64, head: u64 },
    /// Counts include every event up to `seq`.
    Current { seq: u64 },
}

#[derive(Debug, Default)]
struct Aggregate {
    hours: BTreeMap<i64, Bucket>,
    days: BTreeMap<i64, Bucket>,
    names: Names,
    /// Every record with a seq up to this one has been folded in (or was before the window).
    last_seq: u64,
    /// Set once the start of the window was found.
    positioned: bool,
    /// The head when the first pass started; `None` once it caught up.
    building_to: Option<u64>,
}

impl Aggregate {
    fn fold(&mut self, record: &StoredEvent, now: i64) {
        let e = &record.event;
        let at = e.occurred_at.timestamp();
        if at >= now.div_euclid(DAY) * DAY - (WINDOW_DAYS - 1) * DAY {
            let action = self.names.id(&e.action);
            let actor = e.actor.as_ref().map(|a| self.names.id(&a.id));
            let hour = at.div_euclid(HOUR) * HOUR;
            let day = at.div_euclid(DAY) * DAY;
            self.hours
                .entry(hour)
                .or_default()
                .add(e.outcome, e.category, action, actor);
            self.days
                .entry(day)
                .or_default()
                .add(e.outcome, e.category, action, actor);
        }
        self.last_seq = self.last_seq.max(record.seq);
    }

    fn prune(&mut self, now: i64) {
        let first_day = now.div_euclid(DAY) * DAY - (WINDOW_DAYS - 1) * DAY;
        self.days = self.days.split_off(&first_day);
        self.hours = self.hours.split_off(&first_day);
        let detailed_from = now.div_euclid(HOUR) * HOUR - DETAILED_HOURS * HOUR;
        for (_, bucket) in self.hours.range_mut(..detailed_from) {
            if !bucket.actions.is_empty() || !bucket.actors.is_empty() {
                bucket.actions = HashMap::new();
                bucket.actors = HashMap::new();
            }
        }
    }

    fn freshness(&self) -> Freshness {
        if !self.positioned {
            return Freshness::Building { at: 0, head: 0 };
        }
        match self.building_to {
            Some(head) => Freshness::Building {
                at: self.last_seq,
                head,
            },
            None => Freshness::Current { seq: self.last_seq },
        }
    }

    fn summary(&self, range: Range, now: i64) -> Summary {
        let (start, bar, hourly) = range.window(now);
        let totals = if hourly { &self.hours } else { &self.days };
        let mut by_outcome: BTreeMap<Outcome, u64> = BTreeMap::new();
        let mut by_category: BTreeMap<Category, u64> = BTreeMap::new();
        let mut actions: HashMap<u32, u64> = HashMap::new();
        let mut actors: HashMap<u32, u64> = HashMap::new();
        let mut failed_logins = 0;
        for (_, bucket) in totals.range(start..) {
            for ((outcome, category), n) in &bucket.counts {
                *by_outcome.entry(*outcome).or_default() += n;
                *by_category.entry(*category).or_default() += n;
                if *category == Category::Authentication && *outcome == Outcome::Failure {
                    failed_logins += n;
                }
            }
            for (id, n) in &bucket.actions {
                *actions.entry(*id).or_default() += n;
            }
            for (id, n) in &bucket.actors {
                *actors.entry(*id).or_default() += n;
            }
        }
        let end = now.div_euclid(bar) * bar + bar;
        let bars = usize::try_from((end - start) / bar).unwrap_or(0);
        let mut series: Vec<Bar> = (0..bars)
            .map(|i| Bar {
                start: DateTime::from_timestamp(start + i as i64 * bar, 0).unwrap_or_default(),
                ..Bar::default()
            })
            .collect();
        for (hour, bucket) in self.hours.range(start..) {
            let Some(slot) = usize::try_from((hour - start) / bar)
                .ok()
                .and_then(|i| series.get_mut(i))
            else {
                continue;
            };
            for ((outcome, _), n) in &bucket.counts {
                match outcome {
                    Outcome::Success => slot.success += n,
                    Outcome::Denied => slot.denied += n,
                    _ => slot.failure += n,
                }
            }
        }
        Summary {
            range,
            bar_seconds: bar,
            total: by_outcome.values().sum(),
            denials: by_outcome.get(&Outcome::Denied).copied().unwrap_or(0),
            failed_logins,
            by_outcome: by_outcome.into_iter().collect(),
            by_category: by_category.into_iter().collect(),
            top_actions: self.top(actions),
            top_actors: self.top(actors),
            series,
            freshness: self.freshness(),
        }
    }

    fn top(&self, counts: HashMap<u32, u64>) -> Vec<(String, u64)> {
        let mut counts: Vec<(u32, u64)> = counts.into_iter().collect();
        // Most first; equal counts by name so the list is stable between views.
        counts.sort_unstable_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| self.names.name(a.0).cmp(self.names.name(b.0)))
        });
        counts
            .into_iter()
            .take(TOP)
            .map(|(id, n)| (self.names.name(id).to_owned(), n))
            .collect()
    }
}

/// One bar of the events-over-time chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bar {
    pub start: DateTime<Utc>,
    pub success: u64,
    pub failure: u64,
    pub denied: u64,
}

impl Bar {
    pub(crate) fn total(&self) -> u64 {
        self.success + self.failure + self.denied
    }
}

/// What the overview shows for one range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub range: Range,
    pub bar_seconds: i64,
    pub total: u64,
    pub denials: u64,
    pub failed_logins: u64,
    pub by_outcome: Vec<(Outcome, u64)>,
    pub by_category: Vec<(Category, u64)>,
    pub top_actions: Vec<(String, u64)>,
    pub top_actors: Vec<(String, u64)>,
    pub series: Vec<Bar>,
    pub freshness: Freshness,
}

/// The dashboard's counts and the task that keeps them current.
pub(crate) struct Stats {
    store: Arc<dyn AuditStore>,
    aggregate: Mutex<Aggregate>,
    /// Held while reading from the store, so two catch-ups never fold the same records.
    reading: tokio::sync::Mutex<()>,
    started: AtomicBool,
    refresh: Duration,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("freshness", &self.lock().freshness())
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    Utc::now().timestamp()
}

impl Stats {
    pub(crate) fn new(store: Arc<dyn AuditStore>, refresh: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            aggregate: Mutex::new(Aggregate::default()),
            reading: tokio::sync::Mutex::new(()),
            started: AtomicBool::new(false),
            refresh,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Aggregate> {
        self.aggregate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the background task once, if a tokio runtime is running here.
    pub(crate) fn ensure_started(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err()
            || self.started.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(run(weak));
    }

    /// The summary of `range` as the counts stand now.
    pub(crate) fn summary(&self, range: Range) -> Summary {
        self.lock().summary(range, now())
    }

    /// Reads what was appended since the last refresh, at most `max_pages` store pages.
    /// Returns whether it reached the head. Skips (returning `false`) if another refresh is
    /// reading right now.
    pub(crate) async fn refresh(&self, max_pages: usize) -> Result<bool, StoreError> {
        let Ok(_reading) = self.reading.try_lock() else {
            return Ok(false);
        };
        if !self.lock().positioned {
            self.position().await?;
        }
        for _ in 0..max_pages {
            let after = self.lock().last_seq;
            let query = AuditQuery::new()
                .order(Order::OldestFirst)
                .limit(PAGE)
                .after(Cursor::after_seq(after));
            let page = self.store.query(&query).await?;
            let now = now();
            let mut aggregate = self.lock();
            for record in &page.events {
                aggregate.fold(record, now);
            }
            if page.next.is_none() {
                aggregate.building_to = None;
                aggregate.prune(now);
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Finds the last seq before the window, so the first pass reads only the window.
    async fn position(&self) -> Result<(), StoreError> {
        let (first, head) = crate::verifier::log_bounds(&*self.store).await?;
        let cutoff = now().div_euclid(DAY) * DAY - WINDOW_DAYS * DAY;
        let first = first.map(|r| (r.seq, r.event.occurred_at.timestamp()));
        let before = match first {
            None => 0,
            Some((seq, at)) if at >= cutoff => seq.saturating_sub(1),
            Some((mut lo, _)) => {
                // Invariant: record `lo` is older than the cutoff. Times follow seq closely
                // but not exactly; records after `lo` are all read, so an out-of-order one
                // is still counted.
                let mut hi = head.max(lo);
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    match self.store.get(mid).await? {
                        Some(r) if r.event.occurred_at.timestamp() < cutoff => lo = mid,
                        _ => hi = mid - 1,
                    }
                }
                lo
            }
        };
        let mut aggregate = self.lock();
        aggregate.last_seq = before;
        aggregate.building_to = Some(head);
        aggregate.positioned = true;
        Ok(())
    }
}

/// The background task: catch up, then refresh every `refresh`, until the dashboard is gone.
async fn run(stats: Weak<Stats>) {
    loop {
        let Some(strong) = stats.upgrade() else {
            return;
        };
        let pause = strong.refresh;
        // Bounded batches, so a dropped dashboard is noticed between them.
        match strong.refresh(64).await {
            Ok(true) => {}
            Ok(false) => {
                drop(strong);
                tokio::task::yield_now().await;
                continue;
            }
            Err(err) => tracing::warn!(error = %err, "audit dashboard: counting events failed"),
        }
        drop(strong);
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::chain::ChainHash;
    use audit_core::{Actor, AuditEvent};

    fn record(seq: u64, at: i64, action: &str, actor: &str, outcome: Outcome) -> StoredEvent {
        let builder = AuditEvent::builder(action.to_owned())
            .occurred_at(DateTime::from_timestamp(at, 0).unwrap())
            .actor(Actor::user(actor))
            .category(if action.starts_with("authn") {
                Category::Authentication
            } else {
                Category::Business
            });
        let event = match outcome {
            Outcome::Denied => builder.denied("no"),
            Outcome::Failure => builder.failure("bad"),
            _ => builder.success(),
        }
        .build();
        StoredEvent {
            seq,
            prev_hash: ChainHash::ZERO,
            hash: ChainHash::ZERO,
            event,
        }
    }

    // 2026-11-23 12:30:00 UTC
    const NOW: i64 = 1_795_437_000;

    #[test]
    fn a_day_summary_counts_the_last_24_hours_in_hourly_bars() {
        let mut agg = Aggregate::default();
        agg.fold(&record(1, NOW - 60, "A", "alice", Outcome::Success), NOW);
        agg.fold(&record(2, NOW - 2 * HOUR, "A", "bob", Outcome::Denied), NOW);
        agg.fold(
            &record(3, NOW - 25 * HOUR, "A", "bob", Outcome::Success),
            NOW,
        );
        agg.fold(
            &record(4, NOW - 3 * HOUR, "authn_login_fail", "x", Outcome::Failure),
            NOW,
        );
        let s = agg.summary(Range::Day, NOW);
        assert_eq!(s.total, 3);
        assert_eq!(s.denials, 1);
        assert_eq!(s.failed_logins, 1);
        assert_eq!(s.series.len(), 24);
        assert_eq!(s.series.last().unwrap().success, 1);
        assert_eq!(s.series.iter().map(Bar::total).sum::<u64>(), 3);
        assert_eq!(s.top_actions[0], ("A".to_owned(), 2));
        assert_eq!(agg.last_seq, 4);
    }

    #[test]
    fn week_and_month_summaries_use_whole_utc_days() {
        let mut agg = Aggregate::default();
        for (seq, days_ago) in [(1, 0), (2, 6), (3, 7), (4, 29), (5, 30)] {
            agg.fold(
                &record(seq, NOW - days_ago * DAY, "A", "a", Outcome::Success),
                NOW,
            );
        }
        let week = agg.summary(Range::Week, NOW);
        assert_eq!(week.total, 2);
        // Six days of four bars, and today's up to the current one (12:00 to 18:00).
        assert_eq!(week.series.len(), 27);
        let month = agg.summary(Range::Month, NOW);
        assert_eq!(month.total, 4);
        assert_eq!(month.series.len(), 30);
        assert_eq!(month.series.iter().map(Bar::total).sum::<u64>(), 4);
    }

    #[test]
    fn top_lists_rank_by_count_then_name() {
        let mut agg = Aggregate::default();
        let mut seq = 0;
        for (actor, n) in [("carol", 1), ("bob", 3), ("alice", 3)] {
            for _ in 0..n {
                seq += 1;
                agg.fold(&record(seq, NOW, "A", actor, Outcome::Success), NOW);
            }
        }
        let top = agg.summary(Range::Day, NOW).top_actors;
        let names: Vec<_> = top.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        assert_eq!(names, [("alice", 3), ("bob", 3), ("carol", 1)]);
    }

    #[test]
    fn pruning_drops_old_buckets_and_old_hours_details() {
        let mut agg = Aggregate::default();
        agg.fold(&record(1, NOW - 2 * DAY, "A", "a", Outcome::Success), NOW);
        agg.fold(&record(2, NOW, "A", "a", Outcome::Success), NOW);
        let later = NOW + (WINDOW_DAYS - 1) * DAY;
        agg.prune(later);
        assert_eq!(agg.days.len(), 1);
        assert!(agg.hours.values().all(|b| b.actors.is_empty()));
        assert_eq!(agg.hours.len(), 1);
    }

    #[tokio::test]
    async fn refresh_reads_only_new_records_and_never_counts_twice() {
        let store = audit_core::sinks::MemorySink::new();
        use audit_core::AuditSink;
        let event = || AuditEvent::builder("A").actor(Actor::user("a")).build();
        store.write(&[event(), event()]).await.unwrap();
        let stats = Stats::new(Arc::new(store.clone()), Duration::from_secs(1));
        assert!(matches!(
            stats.summary(Range::Day).freshness,
            Freshness::Building { .. }
        ));
        assert!(stats.refresh(10).await.unwrap());
        assert!(stats.refresh(10).await.unwrap());
        assert_eq!(stats.summary(Range::Day).total, 2);
        store.write(&[event()]).await.unwrap();
        assert!(stats.refresh(10).await.unwrap());
        let summary = stats.summary(Range::Day);
        assert_eq!(summary.total, 3);
        assert_eq!(summary.freshness, Freshness::Current { seq: 3 });
    }

    #[tokio::test]
    async fn the_first_pass_starts_at_the_window_not_at_the_first_record() {
        use audit_core::AuditSink;
        let store = audit_core::sinks::MemorySink::new();
        let old = Utc::now() - chrono::Duration::days(60);
        let events: Vec<_> = (0..50)
            .map(|i| {
                let at = if i < 40 { old } else { Utc::now() };
                AuditEvent::builder("A").occurred_at(at).build()
            })
            .collect();
        store.write(&events).await.unwrap();
        let stats = Stats::new(Arc::new(store), Duration::from_secs(1));
        stats.position().await.unwrap();
        assert_eq!(stats.lock().last_seq, 40);
        stats.refresh(10).await.unwrap();
        assert_eq!(stats.summary(Range::Month).total, 10);
    }
}

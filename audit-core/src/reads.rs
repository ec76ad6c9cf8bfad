//! Read auditing: who looked at which sensitive record, through which request
//! ([`record_read`], category [`Access`](crate::Category::Access)), and the explicit ways to
//! keep reads from flooding the log ([`ReadFilter`]): one event per actor and record per time
//! window, and sampling, each written on the events it lets through so nothing is silent.
//!
//! ```
//! use std::time::Duration;
//! use audit_core::reads::{self, ReadFilter};
//! use audit_core::{Actor, testing};
//!
//! let filter = ReadFilter::new().dedup_window(Duration::from_secs(600));
//! let (_, captured) = testing::capture(|| {
//!     for _ in 0..5 {
//!         // In a handler that shows patient p-7's chart to the signed-in user:
//!         let event = reads::record_read("patient", "p-7").actor(Actor::user("dr-who")).build();
//!         if let Some(event) = filter.admit(event) {
//!             audit_core::record(event);
//!         }
//!     }
//! });
//! assert_eq!(captured.events().len(), 1, "one event per actor and record per window");
//! // At shutdown: the reads still counted, as events.
//! let pending = filter.flush();
//! assert_eq!(pending[0].metadata["reads"], 4);
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::context::AuditContext;
use crate::{AuditEvent, AuditEventBuilder, Category};

/// The action codes of read auditing.
pub mod codes {
    /// A sensitive record was read.
    pub const RECORD_READ: &str = "ACCESS_RECORD_READ";
    /// Reads a [`ReadFilter`](super::ReadFilter) held back, counted (at flush).
    pub const READS_SUPPRESSED: &str = "ACCESS_READS_SUPPRESSED";
}

/// The metadata key a [`ReadFilter`] writes on the events it lets through.
pub const READ_FILTER_KEY: &str = "read_filter";

/// At most this many (actor, record) windows are tracked at once; beyond it reads are let
/// through unfiltered (and say so) rather than held in unbounded memory.
pub const MAX_TRACKED: usize = 100_000;

/// The event for reading `entity_type`/`entity_id`: category `access`, recorded with the
/// current request's context (actor, IP, request id) like any other event.
pub fn record_read(
    entity_type: impl Into<String>,
    entity_id: impl Into<String>,
) -> AuditEventBuilder {
    let entity_type = entity_type.into();
    let entity_id = entity_id.into();
    let description = format!("read {entity_type} {entity_id}");
    AuditEvent::builder(codes::RECORD_READ)
        .category(Category::Access)
        .entity(entity_type, entity_id)
        .description(description)
}

/// Who read what: the actor (from the event, else the current context) and the record.
type Key = (String, String, String);

#[derive(Debug)]
struct Window {
    opened: Instant,
    /// Reads held back since the window opened.
    held: u64,
}

/// Decides which read events to record: de-duplication per actor and record per window,
/// and sampling, both off until set. What it holds back is counted and written: on the next
/// event it lets through for the same actor and record (`metadata.read_filter`), and by
/// [`flush`](Self::flush) (call it at shutdown) as [`codes::READS_SUPPRESSED`] events.
#[derive(Debug, Default)]
pub struct ReadFilter {
    window: Option<Duration>,
    one_in: Option<u64>,
    seen: Mutex<HashMap<Key, Window>>,
    reads: AtomicU64,
    skipped: AtomicU64,
}

impl ReadFilter {
    /// Lets every read through.
    pub fn new() -> Self {
        Self::default()
    }

    /// One event per actor and record per `window`.
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Of the reads that pass de-duplication, records one in `n` (0 and 1: all).
    pub fn sample_one_in(mut self, n: u32) -> Self {
        self.one_in = (n > 1).then_some(u64::from(n));
        self
    }

    /// The event to record for this read, or `None` when it is held back (counted).
    pub fn admit(&self, event: AuditEvent) -> Option<AuditEvent> {
        self.admit_at(event, Instant::now())
    }

    /// [`admit`](Self::admit) at `now` (a clock of the caller's: tests, replays).
    pub fn admit_at(&self, mut event: AuditEvent, now: Instant) -> Option<AuditEvent> {
        let mut note = serde_json::Map::new();
        if let Some(window) = self.window {
            let key = key(&event);
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let full = seen.len() >= MAX_TRACKED;
            match seen.get_mut(&key) {
                Some(open) if now.duration_since(open.opened) < window => {
                    open.held += 1;
                    return None;
                }
                Some(open) => {
                    note.insert("held_in_previous_window".into(), json!(open.held));
                    *open = Window {
                        opened: now,
                        held: 0,
                    };
                }
                None => {
                    if full {
                        // Forget closed windows that hold nothing back; what does stays.
                        seen.retain(|_, w| now.duration_since(w.opened) < window || w.held > 0);
                    }
                    if seen.len() >= MAX_TRACKED {
                        note.insert("dedup".into(), json!("table full: not de-duplicated"));
                    } else {
                        seen.insert(
                            key,
                            Window {
                                opened: now,
                                held: 0,
                            },
                        );
                    }
                }
            }
            note.insert("dedup_window_s".into(), json!(window.as_secs_f64()));
        }
        if let Some(n) = self.one_in {
            let i = self.reads.fetch_add(1, Ordering::Relaxed);
            if !i.is_multiple_of(n) {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            note.insert("sampled_one_in".into(), json!(n));
        }
        if !note.is_empty()
            && let serde_json::Value::Object(metadata) = &mut event.metadata
        {
            metadata.insert(READ_FILTER_KEY.into(), serde_json::Value::Object(note));
        }
        Some(event)
    }

    /// The reads held back and not yet written on a later event, as events (one per actor and
    /// record, with `metadata.reads`; one for the sampling's skipped reads), and forgets
    /// them. Call it at shutdown, or periodically.
    pub fn flush(&self) -> Vec<AuditEvent> {
        let mut out = Vec::new();
        let held: Vec<(Key, u64)> = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let held = seen
                .iter()
                .filter(|(_, w)| w.held > 0)
                .map(|(k, w)| (k.clone(), w.held))
                .collect();
            seen.clear();
            held
        };
        for ((actor, entity_type, entity_id), reads) in held {
            let mut b = AuditEvent::builder(codes::READS_SUPPRESSED)
                .category(Category::Access)
                .entity(entity_type.clone(), entity_id.clone())
                .description(format!(
                    "{reads} more reads of {entity_type} {entity_id} held back by de-duplication"
                ))
                .metadata_entry("reads", reads)
                .metadata_entry(
                    "dedup_window_s",
                    self.window.map_or(0.0, |w| w.as_secs_f64()),
                );
            if !actor.is_empty() {
                b = b.actor(crate::Actor::user(actor));
            }
            out.push(b.build());
        }
        let skipped = self.skipped.swap(0, Ordering::Relaxed);
        if skipped > 0 {
            out.push(
                AuditEvent::builder(codes::READS_SUPPRESSED)
                    .category(Category::Access)
                    .description(format!("{skipped} reads skipped by sampling"))
                    .metadata_entry("reads", skipped)
                    .metadata_entry("sampled_one_in", self.one_in.unwrap_or(1))
                    .build(),
            );
        }
        out
    }
}

fn key(event: &AuditEvent) -> Key {
    let actor = event
        .actor
        .as_ref()
        .map(|a| a.id.to_string())
        .or_else(|| {
            AuditContext::current().and_then(|ctx| ctx.snapshot().actor.map(|a| a.id.to_string()))
        })
        .unwrap_or_default();
    (
        actor,
        event.entity_type.as_deref().unwrap_or("").to_owned(),
        event.entity_id.as_deref().unwrap_or("").to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;

    fn read(actor: &str, id: &str) -> AuditEvent {
        record_read("patient", id).actor(Actor::user(actor)).build()
    }

    #[test]
    fn one_event_per_actor_and_record_per_window_and_the_count_follows() {
        let f = ReadFilter::new().dedup_window(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(f.admit_at(read("a", "p1"), t0).is_some());
        assert!(
            f.admit_at(read("a", "p1"), t0 + Duration::from_secs(1))
                .is_none()
        );
        assert!(
            f.admit_at(read("a", "p1"), t0 + Duration::from_secs(2))
                .is_none()
        );
        // Another actor or another record is its own window.
        assert!(f.admit_at(read("b", "p1"), t0).is_some());
        assert!(f.admit_at(read("a", "p2"), t0).is_some());
        let next = f
            .admit_at(read("a", "p1"), t0 + Duration::from_secs(61))
            .unwrap();
        assert_eq!(next.metadata[READ_FILTER_KEY]["held_in_previous_window"], 2);
        assert_eq!(next.metadata[READ_FILTER_KEY]["dedup_window_s"], 60.0);
        assert!(f.flush().is_empty(), "nothing held since");
    }

    #[test]
    fn flush_writes_what_is_still_held() {
        let f = ReadFilter::new().dedup_window(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..4 {
            let _ = f.admit_at(read("a", "p1"), t0 + Duration::from_millis(i));
        }
        let held = f.flush();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].action, codes::READS_SUPPRESSED);
        assert_eq!(held[0].metadata["reads"], 3);
        assert_eq!(held[0].actor.as_ref().map(|a| a.id.as_str()), Some("a"));
        assert!(f.flush().is_empty(), "flushed once");
    }

    #[test]
    fn sampling_keeps_one_in_n_and_counts_the_rest() {
        let f = ReadFilter::new().sample_one_in(4);
        let kept: Vec<_> = (0..10)
            .filter_map(|i| f.admit(read("a", &i.to_string())))
            .collect();
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].metadata[READ_FILTER_KEY]["sampled_one_in"], 4);
        let skipped = f.flush();
        assert_eq!(skipped[0].metadata["reads"], 7);
    }

    #[test]
    fn without_settings_every_read_passes_untouched() {
        let f = ReadFilter::new();
        let event = f.admit(read("a", "p1")).unwrap();
        assert!(event.metadata.get(READ_FILTER_KEY).is_none());
        assert_eq!(event.category, Category::Access);
    }
}

//! The query model every store shares: filters, order, keyset pagination and counts.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::event::{Category, Outcome, StoredEvent};

/// Largest page a store returns, whatever `limit` asks for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// How to match the action code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionFilter {
    /// The code equals this.
    Exact(String),
    /// The code starts with this (`AUTHN_` matches every authentication code).
    Prefix(String),
}

/// Which end of the log comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Highest `seq` first (the default: what an admin wants to see).
    #[default]
    NewestFirst,
    /// Lowest `seq` first (exports, replays).
    OldestFirst,
}

/// A filter over stored events. Every set field must match (AND); unset fields match all.
///
/// ```
/// use audit_core::query::{AuditQuery, Order};
///
/// let q = AuditQuery::new()
///     .actor("alice")
///     .action_prefix("FTMS_")
///     .ip_in("10.0.0.0/8".parse().unwrap())
///     .order(Order::NewestFirst)
///     .limit(20);
/// assert_eq!(q.page_size(), 20);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditQuery {
    /// The actor's id equals this.
    pub actor: Option<String>,
    /// The action code matches this.
    pub action: Option<ActionFilter>,
    /// The category equals this.
    pub category: Option<Category>,
    /// The outcome equals this.
    pub outcome: Option<Outcome>,
    /// The entity type equals this.
    pub entity_type: Option<String>,
    /// The entity id equals this.
    pub entity_id: Option<String>,
    /// `occurred_at >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `occurred_at < until`.
    pub until: Option<DateTime<Utc>>,
    /// The client IP lies inside this network.
    pub ip_net: Option<IpNet>,
    /// The request id equals this.
    pub request_id: Option<String>,
    /// The tenant equals this.
    pub tenant: Option<String>,
    /// The description contains this text (case-sensitive substring).
    pub description_contains: Option<String>,
    /// The event's change set ([`crate::diff`]) lists this path (an RFC 6901 pointer such as
    /// `/email`) as added, removed or changed.
    pub changed: Option<String>,
    /// Which end comes first.
    pub order: Order,
    /// Page size (capped at [`MAX_PAGE_SIZE`]; [`DEFAULT_PAGE_SIZE`] when unset).
    pub limit: Option<u32>,
    /// Continue after the page that returned this cursor.
    pub cursor: Option<Cursor>,
}

macro_rules! setter {
    ($(#[$doc:meta] $name:ident: $field:ident = $ty:ty),* $(,)?) => {
        $(
            #[$doc]
            pub fn $name(mut self, value: impl Into<$ty>) -> Self {
                self.$field = Some(value.into());
                self
            }
        )*
    };
}

impl AuditQuery {
    /// A query that matches everything, newest first.
    pub fn new() -> Self {
        Self::default()
    }

    setter! {
        /// Only events by this actor id.
        actor: actor = String,
        /// Only events of this entity type.
        entity_type: entity_type = String,
        /// Only events about this entity id.
        entity_id: entity_id = String,
        /// Only events of this request.
        request_id: request_id = String,
        /// Only events of this tenant.
        tenant: tenant = String,
        /// Only events whose description contains this text.
        description_contains: description_contains = String,
        /// Only events whose change set lists this path (`/email`) as added, removed or changed.
        changed: changed = String,
        /// Only events at or after this time.
        since: since = DateTime<Utc>,
        /// Only events before this time.
        until: until = DateTime<Utc>,
        /// Only events of this category.
        category: category = Category,
        /// Only events with this outcome.
        outcome: outcome = Outcome,
    }

    /// Only events from an IP inside this network.
    pub fn ip_in(mut self, net: IpNet) -> Self {
        self.ip_net = Some(net);
        self
    }

    /// Only events with exactly this action code.
    pub fn action(mut self, code: impl Into<String>) -> Self {
        self.action = Some(ActionFilter::Exact(code.into()));
        self
    }

    /// Only events whose action code starts with `prefix`.
    pub fn action_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.action = Some(ActionFilter::Prefix(prefix.into()));
        self
    }

    /// Sets the order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continues after a previous page.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The effective page size: `limit`, capped at [`MAX_PAGE_SIZE`], at least 1.
    pub fn page_size(&self) -> u32 {
        self.limit
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE)
    }

    /// Whether `record` passes every filter (ignores order, limit and cursor).
    ///
    /// This is the reference semantics: every store must return exactly the records this
    /// accepts, and the tests compare stores against it.
    pub fn matches(&self, record: &StoredEvent) -> bool {
        let e = &record.event;
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.actor, e.actor.as_ref().map(|a| a.id.as_str()))
            && match &self.action {
                None => true,
                Some(ActionFilter::Exact(code)) => e.action == code.as_str(),
                Some(ActionFilter::Prefix(prefix)) => e.action.starts_with(prefix.as_str()),
            }
            && self.category.is_none_or(|c| c == e.category)
            && self.outcome.is_none_or(|o| o == e.outcome)
            && eq(&self.entity_type, e.entity_type.as_deref())
            && eq(&self.entity_id, e.entity_id.as_deref())
            && self.since.is_none_or(|t| e.occurred_at >= t)
            && self.until.is_none_or(|t| e.occurred_at < t)
            && self
                .ip_net
                .is_none_or(|net| e.ip.is_some_and(|ip| net.contains(&ip)))
            && eq(&self.request_id, e.request_id.as_deref())
            && eq(&self.tenant, e.tenant.as_deref())
            && self
                .description_contains
                .as_deref()
                .is_none_or(|needle| e.description.as_deref().is_some_and(|d| d.contains(needle)))
            && self
                .changed
                .as_deref()
                .is_none_or(|path| crate::diff::lists_path(&e.metadata, path))
            && self.cursor.is_none_or(|c| match self.order {
                Order::NewestFirst => record.seq < c.after_seq,
                Order::OldestFirst => record.seq > c.after_seq,
            })
    }
}

/// An opaque position for keyset pagination: pass it back to get the next page.
///
/// Its text form (`Display`/`FromStr`) is what an HTTP API hands to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    after_seq: u64,
}

impl Cursor {
    /// A cursor that continues after the record with this seq (in the query's order).
    pub fn after_seq(seq: u64) -> Self {
        Self { after_seq: seq }
    }

    /// The seq this cursor continues after.
    pub fn seq(&self) -> u64 {
        self.after_seq
    }
}

/// A cursor string that was not produced by this library.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pagination cursor")]
pub struct InvalidCursor;

const CURSOR_PREFIX: &str = "c1.";

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CURSOR_PREFIX}{:x}", self.after_seq)
    }
}

impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix(CURSOR_PREFIX).ok_or(InvalidCursor)?;
        u64::from_str_radix(hex, 16)
            .map(Cursor::after_seq)
            .map_err(|_| InvalidCursor)
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The records, in the query's order.
    pub events: Vec<StoredEvent>,
    /// Present when more records may follow.
    pub next: Option<Cursor>,
}

impl Page {
    /// Builds a page from up to `page_size + 1` fetched records: the extra one only tells
    /// that a next page exists.
    pub fn from_fetched(mut events: Vec<StoredEvent>, page_size: u32) -> Self {
        let more = events.len() > page_size as usize;
        events.truncate(page_size as usize);
        let next = if more {
            events.last().map(|e| Cursor::after_seq(e.seq))
        } else {
            None
        };
        Self { events, next }
    }
}

/// What to group counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountBy {
    /// The action code.
    Action,
    /// The actor id (events without an actor are counted under `""`).
    Actor,
    /// The UTC day of `occurred_at`, as `YYYY-MM-DD`.
    Day,
    /// The outcome, by its stored name (`success`, `failure`, `denied`): "how many denials
    /// this week".
    Outcome,
    /// The category, by its stored name (`authentication`, `authorization`, `business`,
    /// `system`).
    Category,
}

impl CountBy {
    /// Every grouping, for stores and suites that must handle each.
    pub const ALL: [CountBy; 5] = [
        Self::Action,
        Self::Actor,
        Self::Day,
        Self::Outcome,
        Self::Category,
    ];

    /// The group key of `record`.
    pub fn key(&self, record: &StoredEvent) -> String {
        let e = &record.event;
        match self {
            Self::Action => e.action.to_string(),
            Self::Actor => e.actor.as_ref().map(|a| a.id.clone()).unwrap_or_default(),
            Self::Day => e.occurred_at.format("%Y-%m-%d").to_string(),
            Self::Outcome => e.outcome.as_str().to_owned(),
            Self::Category => e.category.as_str().to_owned(),
        }
    }
}

/// A count for one group, as returned by `count_by` (sorted by key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCount {
    /// The group key.
    pub key: String,
    /// How many records matched in that group.
    pub count: u64,
}

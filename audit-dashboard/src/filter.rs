//! The event filter as it lives in the URL: every [`AuditQuery`] filter, the order, the page
//! size and the keyset position, so a view can be bookmarked and shared.
//!
//! Every field is text exactly as a form sends it (an empty field means "any"); parsing into
//! an [`AuditQuery`] names the field that is wrong.

use std::net::IpAddr;

use audit_core::query::{AuditQuery, Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Order};
use audit_core::{Category, Outcome};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A filter field that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub(crate) struct FilterError {
    pub(crate) field: &'static str,
    pub(crate) problem: String,
}

fn bad(field: &'static str, problem: impl Into<String>) -> FilterError {
    FilterError {
        field,
        problem: problem.into(),
    }
}

/// The filter form's fields, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Filter {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub since: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub until: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub actor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// `prefix` to match the action as a prefix; anything else is exact.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub action_match: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub outcome: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub entity_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub entity_id: String,
    /// An IP address or a CIDR network.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// Text the description contains.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// `oldest` for oldest first; anything else is newest first.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub order: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub limit: String,
    /// Continue after this cursor, in the view's order (the next page).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub after: String,
    /// Continue before this cursor, against the view's order (the previous page).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub before: String,
}

/// Which way a page is read from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// In the view's order, after the cursor (or from the start).
    Forward,
    /// Against the view's order, before the cursor: the query runs reversed and its rows
    /// are flipped back for display.
    Backward,
}

/// Accepted time forms: RFC 3339, or what `<input type="datetime-local">` sends (taken as
/// UTC), or a bare date.
fn parse_time(field: &'static str, text: &str) -> Result<DateTime<Utc>, FilterError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(bad(
        field,
        "expected a time such as 2026-11-23T14:00 (UTC) or RFC 3339",
    ))
}

fn some(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}

impl Filter {
    /// The view's order.
    pub(crate) fn order(&self) -> Order {
        if self.order == "oldest" {
            Order::OldestFirst
        } else {
            Order::NewestFirst
        }
    }

    /// The query for the filters alone: no order, page size or cursor.
    pub(crate) fn filters(&self) -> Result<AuditQuery, FilterError> {
        let mut q = AuditQuery::new();
        if let Some(t) = some(&self.since) {
            q = q.since(parse_time("since", t)?);
        }
        if let Some(t) = some(&self.until) {
            q = q.until(parse_time("until", t)?);
        }
        if let Some(actor) = some(&self.actor) {
            q = q.actor(actor);
        }
        if let Some(action) = some(&self.action) {
            q = if self.action_match == "prefix" {
                q.action_prefix(action)
            } else {
                q.action(action)
            };
        }
        if let Some(c) = some(&self.category) {
            q = q.category(
                c.parse::<Category>()
                    .map_err(|_| bad("category", "unknown category"))?,
            );
        }
        if let Some(o) = some(&self.outcome) {
            q = q.outcome(
                o.parse::<Outcome>()
                    .map_err(|_| bad("outcome", "unknown outcome"))?,
            );
        }
        if let Some(t) = some(&self.entity_type) {
            q = q.entity_type(t);
        }
        if let Some(id) = some(&self.entity_id) {
            q = q.entity_id(id);
        }
        if let Some(ip) = some(&self.ip) {
            let net = ip
                .parse::<IpNet>()
                .or_else(|_| ip.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| bad("ip", "expected an IP address or a CIDR network"))?;
            q = q.ip_in(net);
        }
        if let Some(id) = some(&self.request_id) {
            q = q.request_id(id);
        }
        if let Some(text) = some(&self.text) {
            q = q.description_contains(text);
        }
        Ok(q)
    }

    /// The page size asked for (default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]).
    pub(crate) fn page_size(&self) -> Result<u32, FilterError> {
        match some(&self.limit) {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) => n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| bad("limit", format!("expected 1 to {MAX_PAGE_SIZE}"))),
        }
    }

    /// The query of one page and which way it reads.
    pub(crate) fn page_query(&self) -> Result<(AuditQuery, Direction), FilterError> {
        let mut q = self.filters()?.limit(self.page_size()?);
        let cursor = |field: &'static str, text: &str| {
            text.parse::<Cursor>()
                .map_err(|_| bad(field, "not a page position from this dashboard"))
        };
        let direction = match (some(&self.after), some(&self.before)) {
            (Some(_), Some(_)) => return Err(bad("before", "give after or before, not both")),
            (Some(after), None) => {
                q = q.order(self.order()).after(cursor("after", after)?);
                Direction::Forward
            }
            (None, Some(before)) => {
                q = q.order(flip(self.order())).after(cursor("before", before)?);
                Direction::Backward
            }
            (None, None) => {
                q = q.order(self.order());
                Direction::Forward
            }
        };
        Ok((q, direction))
    }

    /// The same filter without the page position (for links, exports and the form).
    pub(crate) fn without_position(&self) -> Filter {
        Filter {
            after: String::new(),
            before: String::new(),
            ..self.clone()
        }
    }

    /// The filter as a URL query string (empty fields left out).
    pub(crate) fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }

    /// The filter's fields that are set, for the audit record of a view or an export.
    pub(crate) fn described(&self) -> Value {
        let value = serde_json::to_value(self.without_position()).unwrap_or(Value::Null);
        match value {
            Value::Object(map) => Value::Object(map),
            _ => Value::Object(Map::new()),
        }
    }
}

fn flip(order: Order) -> Order {
    match order {
        Order::NewestFirst => Order::OldestFirst,
        Order::OldestFirst => Order::NewestFirst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::query::ActionFilter;

    fn filter(query: &str) -> Filter {
        serde_urlencoded::from_str(query).expect("valid query string")
    }

    #[test]
    fn empty_fields_mean_any() {
        let f = filter("actor=&outcome=&since=&limit=");
        assert_eq!(f.filters().unwrap(), AuditQuery::new());
        assert_eq!(f.page_size().unwrap(), DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn every_field_maps_to_its_query_filter() {
        let f = filter(
            "since=2026-11-01T10:00&until=2026-11-02&actor=alice&action=FTMS_&action_match=prefix\
             &category=business&outcome=denied&entity_type=booking&entity_id=b-1\
             &ip=10.0.0.0/8&request_id=r-1&text=seat",
        );
        let q = f.filters().unwrap();
        assert_eq!(q.actor.as_deref(), Some("alice"));
        assert_eq!(q.action, Some(ActionFilter::Prefix("FTMS_".into())));
        assert_eq!(q.category, Some(Category::Business));
        assert_eq!(q.outcome, Some(Outcome::Denied));
        assert_eq!(q.entity_type.as_deref(), Some("booking"));
        assert_eq!(q.entity_id.as_deref(), Some("b-1"));
        assert_eq!(q.ip_net, Some("10.0.0.0/8".parse().unwrap()));
        assert_eq!(q.request_id.as_deref(), Some("r-1"));
        assert_eq!(q.description_contains.as_deref(), Some("seat"));
        assert_eq!(q.since.unwrap().to_rfc3339(), "2026-11-01T10:00:00+00:00");
        assert_eq!(q.until.unwrap().to_rfc3339(), "2026-11-02T00:00:00+00:00");
    }

    #[test]
    fn a_single_ip_is_a_one_address_network() {
        let q = filter("ip=192.0.2.7").filters().unwrap();
        assert_eq!(q.ip_net, Some("192.0.2.7/32".parse().unwrap()));
    }

    #[test]
    fn bad_fields_are_named() {
        for (query, field) in [
            ("outcome=maybe", "outcome"),
            ("category=x", "category"),
            ("ip=not-an-ip", "ip"),
            ("since=yesterday", "since"),
            ("limit=0", "limit"),
            ("limit=100000", "limit"),
            ("after=123", "after"),
            ("after=c1.1&before=c1.2", "before"),
        ] {
            let err = filter(query).page_query().unwrap_err();
            assert_eq!(err.field, field, "{query}");
        }
    }

    #[test]
    fn the_previous_page_reads_backwards_from_its_cursor() {
        let (q, direction) = filter("before=c1.a").page_query().unwrap();
        assert_eq!(direction, Direction::Backward);
        assert_eq!(q.order, Order::OldestFirst);
        assert_eq!(q.cursor, Some(Cursor::after_seq(10)));
        let (q, direction) = filter("order=oldest&after=c1.a").page_query().unwrap();
        assert_eq!(direction, Direction::Forward);
        assert_eq!(q.order, Order::OldestFirst);
    }

    #[test]
    fn the_query_string_round_trips_and_leaves_empty_fields_out() {
        let f = filter("actor=a%26b&outcome=denied&text=%3Cscript%3E");
        let text = f.query_string();
        assert_eq!(text, "actor=a%26b&outcome=denied&text=%3Cscript%3E");
        assert_eq!(filter(&text), f);
    }
}

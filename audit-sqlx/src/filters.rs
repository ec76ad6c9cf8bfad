//! The `WHERE` clause of the shared [`AuditQuery`] model, written once for every backend;
//! the three filters whose SQL differs between databases come from a [`FilterSql`].

use audit_core::query::{ActionFilter, AuditQuery, CountBy, GroupCount, Order};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sqlx_core::database::Database;
use sqlx_core::encode::Encode;
use sqlx_core::query_builder::QueryBuilder;
use sqlx_core::types::Type;

use crate::fields::event_columns;

/// The filters each database writes its own way.
pub(crate) trait FilterSql<DB: Database> {
    /// `action` starts with `prefix` (a plain prefix: no wildcard in it may match more).
    fn action_prefix(b: &mut QueryBuilder<DB>, prefix: &str);
    /// `ip` lies in `net`; an IPv4 network never contains an IPv6 address, as in `ipnet`.
    fn ip_in(b: &mut QueryBuilder<DB>, net: IpNet);
    /// `description` contains `needle` (a plain, case-sensitive substring).
    fn description_contains(b: &mut QueryBuilder<DB>, needle: &str);
    /// The metadata's change set lists `path` as added, removed or changed.
    fn changed(b: &mut QueryBuilder<DB>, path: &str);
    /// Binds a time compared with `occurred_at`.
    fn time(b: &mut QueryBuilder<DB>, at: DateTime<Utc>);
    /// `occurred_at`'s UTC day as `YYYY-MM-DD` text.
    const DAY: &'static str;
}

/// What a read selects from the events table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Select {
    /// One page of `q` (its order, size and cursor): every column, one row more than the
    /// page to know whether another follows.
    Page,
    /// `COUNT(*)` of the matches.
    Count,
    /// `(key, COUNT(*))` per group.
    Groups(CountBy),
}

/// The whole query for `what` over `events` (the table's SQL name) with `q`'s filters.
pub(crate) fn select<DB, F>(events: &str, q: &AuditQuery, what: Select) -> QueryBuilder<DB>
where
    DB: Database,
    F: FilterSql<DB>,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    let head = match what {
        Select::Page => format!("SELECT {} FROM {events}", event_columns()),
        Select::Count => format!("SELECT COUNT(*) FROM {events}"),
        Select::Groups(by) => {
            let key = match by {
                CountBy::Action => "action",
                CountBy::Actor => "COALESCE(actor_id, '')",
                CountBy::Outcome => "outcome",
                CountBy::Category => "category",
                CountBy::Day => F::DAY,
            };
            format!("SELECT {key} AS k, COUNT(*) FROM {events}")
        }
    };
    let mut b = QueryBuilder::new(head);
    push_filters::<DB, F>(&mut b, q, matches!(what, Select::Page));
    match what {
        Select::Page => push_page(&mut b, q),
        Select::Count => {}
        Select::Groups(_) => {
            b.push(" GROUP BY k");
        }
    }
    b
}

/// A `(key, COUNT(*))` row of [`Select::Groups`].
pub(crate) fn group(key: String, count: i64) -> GroupCount {
    GroupCount {
        key,
        count: u64::try_from(count).unwrap_or(0),
    }
}

/// Appends ` WHERE ...` for every filter set in `q` (and the cursor when `with_cursor`).
fn push_filters<DB, F>(b: &mut QueryBuilder<DB>, q: &AuditQuery, with_cursor: bool)
where
    DB: Database,
    F: FilterSql<DB>,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    b.push(" WHERE TRUE");
    let equal = |b: &mut QueryBuilder<DB>, column: &str, value: Option<&str>| {
        if let Some(value) = value {
            b.push(format_args!(" AND {column} = "))
                .push_bind(value.to_owned());
        }
    };
    equal(b, "actor_id", q.actor.as_deref());
    match &q.action {
        None => {}
        Some(ActionFilter::Exact(code)) => equal(b, "action", Some(code)),
        Some(ActionFilter::Prefix(prefix)) => {
            b.push(" AND ");
            F::action_prefix(b, prefix);
        }
    }
    equal(b, "category", q.category.map(|c| c.as_str()));
    equal(b, "outcome", q.outcome.map(|o| o.as_str()));
    equal(b, "entity_type", q.entity_type.as_deref());
    equal(b, "entity_id", q.entity_id.as_deref());
    if let Some(since) = q.since {
        b.push(" AND occurred_at >= ");
        F::time(b, since);
    }
    if let Some(until) = q.until {
        b.push(" AND occurred_at < ");
        F::time(b, until);
    }
    if let Some(net) = q.ip_net {
        b.push(" AND ");
        F::ip_in(b, net);
    }
    equal(b, "request_id", q.request_id.as_deref());
    equal(b, "tenant", q.tenant.as_deref());
    if let Some(needle) = &q.description_contains {
        b.push(" AND ");
        F::description_contains(b, needle);
    }
    if let Some(path) = &q.changed {
        b.push(" AND ");
        F::changed(b, path);
    }
    if let (true, Some(cursor)) = (with_cursor, q.cursor) {
        let after = i64::try_from(cursor.seq()).unwrap_or(i64::MAX);
        match q.order {
            Order::NewestFirst => b.push(" AND seq < ").push_bind(after),
            Order::OldestFirst => b.push(" AND seq > ").push_bind(after),
        };
    }
}

/// ` ORDER BY seq ... LIMIT n + 1` for `q`'s order and page size (one row more than the page,
/// to know whether another page follows).
fn push_page<DB>(b: &mut QueryBuilder<DB>, q: &AuditQuery)
where
    DB: Database,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    b.push(match q.order {
        Order::NewestFirst => " ORDER BY seq DESC",
        Order::OldestFirst => " ORDER BY seq ASC",
    });
    b.push(" LIMIT ").push_bind(i64::from(q.page_size()) + 1);
}

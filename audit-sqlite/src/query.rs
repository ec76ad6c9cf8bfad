//! [`AuditQuery`] translated to SQL: filters, keyset pagination, counts and full scans.

use audit_core::StoredEvent;
use audit_core::query::{ActionFilter, AuditQuery, CountBy, GroupCount, Order, Page};
use chrono::DateTime;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use crate::bucket_filter::BucketFilters;
use crate::codec::{self, ip_range, seq_param};
use crate::error::{Error, Result};
use crate::schema::BUCKET_SHIFT;
use crate::window;

/// A `WHERE` clause and its parameters.
pub(crate) struct Filter {
    pub(crate) clause: String,
    pub(crate) params: Vec<Value>,
    /// The filter names a key of a bucketed lookup index (see [`BUCKET_SHIFT`]): the query
    /// walks the buckets and orders by bucket, then seq (the same order as by seq alone).
    bucketed: bool,
}

/// Whether `query` filters on a key of a bucketed lookup index.
pub(crate) fn uses_bucketed_index(query: &AuditQuery) -> bool {
    query.actor.is_some()
        || query.entity_id.is_some()
        || query.ip_net.is_some()
        || query.request_id.is_some()
}

/// The buckets a lookup seeks, when its [`BucketFilters`] rule some out: those of the stored
/// range (bounded by the cursor on its side) that may hold the query's keys. `None`: walk
/// every bucket of the range.
fn narrowed(
    conn: &Connection,
    query: &AuditQuery,
    filters: &BucketFilters,
    with_cursor: bool,
) -> Result<Option<Vec<u64>>> {
    if !uses_bucketed_index(query) {
        return Ok(None);
    }
    let (min, max): (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT (SELECT min(seq) FROM audit_events), (SELECT max(seq) FROM audit_events)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (Some(min), Some(max)) = (min, max) else {
        return Ok(None);
    };
    let bucket = |seq: i64| u64::try_from(seq).unwrap_or(0) >> BUCKET_SHIFT;
    let (mut lo, mut hi) = (bucket(min), bucket(max));
    if let Some(cursor) = query.cursor.filter(|_| with_cursor) {
        let at = cursor.seq() >> BUCKET_SHIFT;
        match query.order {
            Order::NewestFirst => hi = hi.min(at),
            Order::OldestFirst => lo = lo.max(at),
        }
    }
    filters.candidates(conn, query, lo, hi)
}

/// `(seq >> 13) IN (the buckets to seek)`: with it the planner seeks each bucket of a lookup
/// index in turn (in the `ORDER BY`'s direction, so a page stops early), without needing
/// planner statistics. Without a list from [`narrowed`], every bucket from the first to the
/// last; a cursor bounds the walk on its side.
fn bucket_range(f: &mut Filter, query: &AuditQuery, with_cursor: bool, buckets: Option<&[u64]>) {
    if let Some(buckets) = buckets {
        let list: Vec<String> = buckets.iter().map(u64::to_string).collect();
        cond(
            f,
            &format!("(seq >> {BUCKET_SHIFT}) IN (SELECT value FROM json_each(?))"),
            vec![Value::Text(format!("[{}]", list.join(",")))],
        );
        return;
    }
    let cursor = query
        .cursor
        .filter(|_| with_cursor)
        .map(|c| Value::Integer(seq_param(c.seq())));
    let (lo, hi, values) = match (cursor, query.order) {
        (None, _) => ("min(seq)", "max(seq)", vec![]),
        (Some(c), Order::NewestFirst) => ("min(seq)", "?", vec![c]),
        (Some(c), Order::OldestFirst) => ("?", "max(seq)", vec![c]),
    };
    let bound = |b: &str| {
        if b == "?" {
            format!("(? >> {BUCKET_SHIFT})")
        } else {
            format!("((SELECT {b} FROM audit_events) >> {BUCKET_SHIFT})")
        }
    };
    let sql = format!(
        "(seq >> {BUCKET_SHIFT}) IN (WITH RECURSIVE audit_bucket(b) AS (SELECT {} UNION ALL \
         SELECT b + 1 FROM audit_bucket WHERE b < {}) SELECT b FROM audit_bucket)",
        bound(lo),
        bound(hi),
    );
    cond(f, &sql, values);
}

/// Appends `sql` to the filter; each `?` in it takes the next of `values`.
pub(crate) fn cond(f: &mut Filter, sql: &str, values: Vec<Value>) {
    let mut values = values.into_iter();
    f.clause.push_str(if f.clause.is_empty() {
        " WHERE "
    } else {
        " AND "
    });
    for (i, piece) in sql.split('?').enumerate() {
        if i > 0 {
            if let Some(v) = values.next() {
                f.params.push(v);
            }
            f.clause.push_str(&format!("?{}", f.params.len()));
        }
        f.clause.push_str(piece);
    }
}

/// Builds the filter of `query`; `with_cursor` adds the keyset condition.
pub(crate) fn filter(query: &AuditQuery, with_cursor: bool) -> Filter {
    filter_in(query, with_cursor, None)
}

/// [`filter`], seeking only `buckets` (from [`narrowed`]) when given.
fn filter_in(query: &AuditQuery, with_cursor: bool, buckets: Option<&[u64]>) -> Filter {
    let mut f = Filter {
        clause: String::new(),
        params: Vec::new(),
        bucketed: uses_bucketed_index(query),
    };
    if f.bucketed {
        bucket_range(&mut f, query, with_cursor, buckets);
    }
    let text = |s: &str| Value::Text(s.to_owned());
    if let Some(actor) = &query.actor {
        cond(&mut f, "actor_id = ?", vec![text(actor)]);
    }
    match &query.action {
        None => {}
        Some(ActionFilter::Exact(code)) => cond(&mut f, "action = ?", vec![text(code)]),
        Some(ActionFilter::Prefix(prefix)) if prefix.is_empty() => {}
        Some(ActionFilter::Prefix(prefix)) => {
            // The range lets the index seek; `substr` makes the match exact.
            let upper = format!("{prefix}\u{10FFFF}");
            let chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
            cond(
                &mut f,
                "action >= ? AND action < ? AND substr(action, 1, ?) = ?",
                vec![
                    text(prefix),
                    Value::Text(upper),
                    Value::Integer(chars),
                    text(prefix),
                ],
            );
        }
    }
    if let Some(category) = query.category {
        cond(&mut f, "category = ?", vec![text(category.as_str())]);
    }
    if let Some(outcome) = query.outcome {
        cond(&mut f, "outcome = ?", vec![text(outcome.as_str())]);
    }
    if let Some(entity_type) = &query.entity_type {
        cond(&mut f, "entity_type = ?", vec![text(entity_type)]);
    }
    if let Some(entity_id) = &query.entity_id {
        cond(&mut f, "entity_id = ?", vec![text(entity_id)]);
    }
    if let Some(since) = query.since {
        cond(
            &mut f,
            "occurred_at >= ?",
            vec![Value::Integer(since.timestamp_micros())],
        );
    }
    if let Some(until) = query.until {
        cond(
            &mut f,
            "occurred_at < ?",
            vec![Value::Integer(until.timestamp_micros())],
        );
    }
    if let Some(net) = &query.ip_net {
        let (lo, hi) = ip_range(net);
        cond(
            &mut f,
            "ip BETWEEN ? AND ?",
            vec![Value::Blob(lo), Value::Blob(hi)],
        );
    }
    if let Some(request_id) = &query.request_id {
        cond(&mut f, "request_id = ?", vec![text(request_id)]);
    }
    if let Some(tenant) = &query.tenant {
        cond(&mut f, "tenant = ?", vec![text(tenant)]);
    }
    if let Some(needle) = &query.description_contains {
        cond(&mut f, "instr(description, ?) > 0", vec![text(needle)]);
    }
    if let Some(path) = &query.changed {
        // The metadata column is the JSON text; json_each lists the change set's paths.
        cond(
            &mut f,
            "EXISTS (SELECT 1 FROM json_each(metadata, '$.changes.added') WHERE value = ? \
             UNION ALL SELECT 1 FROM json_each(metadata, '$.changes.removed') WHERE value = ? \
             UNION ALL SELECT 1 FROM json_each(metadata, '$.changes.changed') WHERE value = ?)",
            vec![text(path), text(path), text(path)],
        );
    }
    if let Some(cursor) = query.cursor.filter(|_| with_cursor) {
        let sql = match query.order {
            Order::NewestFirst => "seq < ?",
            Order::OldestFirst => "seq > ?",
        };
        cond(&mut f, sql, vec![Value::Integer(seq_param(cursor.seq()))]);
    }
    f
}

pub(crate) fn order_sql(order: Order, bucketed: bool) -> String {
    let dir = match order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    if bucketed {
        format!(" ORDER BY (seq >> {BUCKET_SHIFT}) {dir}, seq {dir}")
    } else {
        format!(" ORDER BY seq {dir}")
    }
}

/// One page: fetches `page_size + 1` rows to know whether another page follows.
///
/// A filter that may match much of the log goes through [`window`](crate::window), in one
/// read transaction (its steps see one snapshot); the rest is one statement.
pub(crate) fn page(conn: &Connection, query: &AuditQuery, filters: &BucketFilters) -> Result<Page> {
    let size = query.page_size();
    let tx = conn.unchecked_transaction()?;
    if let Some(index) = window::broad_index(query) {
        let (events, _) = window::page(&tx, query, index, i64::from(size) + 1)?;
        tx.finish()?;
        return Ok(Page::from_fetched(events, size));
    }
    let buckets = narrowed(&tx, query, filters, true)?;
    let f = filter_in(query, true, buckets.as_deref());
    let sql = format!(
        "SELECT {} FROM audit_events{}{} LIMIT {}",
        codec::columns(),
        f.clause,
        order_sql(query.order, f.bucketed),
        u64::from(size) + 1
    );
    let mut events = Vec::with_capacity(size as usize + 1);
    {
        let mut stmt = tx.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(f.params))?;
        while let Some(row) = rows.next()? {
            events.push(codec::decode(row)?);
        }
    }
    tx.finish()?;
    Ok(Page::from_fetched(events, size))
}

/// Calls `each` for every record matching `query` (from its cursor on, ignoring the page
/// size), in the query's order, holding one record at a time. Returns how many there were.
pub(crate) fn scan(
    conn: &Connection,
    query: &AuditQuery,
    filters: &BucketFilters,
    mut each: impl FnMut(&StoredEvent) -> Result<()>,
) -> Result<u64> {
    let buckets = narrowed(conn, query, filters, true)?;
    let f = filter_in(query, true, buckets.as_deref());
    let sql = format!(
        "SELECT {} FROM audit_events{}{}",
        codec::columns(),
        f.clause,
        order_sql(query.order, f.bucketed)
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(f.params))?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        each(&codec::decode(row)?)?;
        count += 1;
    }
    Ok(count)
}

/// How many records match (order, page size and cursor ignored).
pub(crate) fn count(conn: &Connection, query: &AuditQuery, filters: &BucketFilters) -> Result<u64> {
    let tx = conn.unchecked_transaction()?;
    let buckets = narrowed(&tx, query, filters, false)?;
    let f = filter_in(query, false, buckets.as_deref());
    let sql = format!("SELECT count(*) FROM audit_events{}", f.clause);
    let n: i64 = tx.query_row(&sql, params_from_iter(f.params), |row| row.get(0))?;
    tx.finish()?;
    u64::try_from(n).map_err(|_| Error::InvalidRequest("negative count".into()))
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Counts grouped by `by`, sorted by key.
pub(crate) fn count_by(
    conn: &Connection,
    query: &AuditQuery,
    filters: &BucketFilters,
    by: CountBy,
) -> Result<Vec<GroupCount>> {
    let tx = conn.unchecked_transaction()?;
    let buckets = narrowed(&tx, query, filters, false)?;
    let f = filter_in(query, false, buckets.as_deref());
    let key = match by {
        // The unary `+` keeps the planner from walking the whole action index to get groups
        // in order; with a time range it then scans the covering time index instead.
        CountBy::Action => "+action".to_owned(),
        CountBy::Actor => "coalesce(actor_id, '')".to_owned(),
        CountBy::Outcome => "outcome".to_owned(),
        CountBy::Category => "category".to_owned(),
        // Floor division, so days before 1970 group correctly too.
        CountBy::Day => format!(
            "(occurred_at - (((occurred_at % {d}) + {d}) % {d})) / {d}",
            d = MICROS_PER_DAY
        ),
    };
    let sql = format!(
        "SELECT {key} AS k, count(*) FROM audit_events{} GROUP BY k",
        f.clause
    );
    let mut groups = Vec::new();
    let mut stmt = tx.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(f.params))?;
    while let Some(row) = rows.next()? {
        let key = match by {
            CountBy::Day => {
                let day: i64 = row.get(0)?;
                DateTime::from_timestamp(day * 86_400, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .ok_or_else(|| Error::corrupt_record(0, "occurred_at out of range"))?
            }
            _ => row.get(0)?,
        };
        let count: i64 = row.get(1)?;
        groups.push(GroupCount {
            key,
            count: u64::try_from(count).unwrap_or(0),
        });
    }
    drop(rows);
    drop(stmt);
    tx.finish()?;
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(groups)
}

/// One record by seq.
pub(crate) fn get(conn: &Connection, seq: u64) -> Result<Option<StoredEvent>> {
    let sql = format!(
        "SELECT {} FROM audit_events WHERE seq = ?1",
        codec::columns()
    );
    conn.query_row(&sql, [seq_param(seq)], |row| Ok(codec::decode(row)))
        .optional()?
        .transpose()
}

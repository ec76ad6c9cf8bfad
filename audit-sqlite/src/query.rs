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

/// The first and last stored bucket, the cursor's bounding the walk on its side; `None` for
/// an empty log.
fn bucket_bounds(
    conn: &Connection,
    query: &AuditQuery,
    with_cursor: bool,
) -> Result<Option<(u64, u64)>> {
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
    Ok(Some((lo, hi)))
}

/// The buckets a lookup seeks, when its [`BucketFilters`] rule some out: those of the stored
/// range that may hold the query's keys. `None`: walk every bucket of the range.
fn narrowed(
    conn: &Connection,
    query: &AuditQuery,
    filters: &BucketFilters,
    with_cursor: bool,
) -> Result<Option<Vec<u64>>> {
    if !uses_bucketed_index(query) {
        return Ok(None);
    }
    match bucket_bounds(conn, query, with_cursor)? {
        Some((lo, hi)) => filters.candidates(conn, query, lo, hi),
        None => Ok(None),
    }
}

/// Buckets a page's first statement seeks; each next one seeks four times as many. A page of
/// a frequent key fills from its newest buckets without the statement listing every bucket
/// of the log (a list SQLite materialises first: about 0.5 µs per bucket).
const FIRST_CHUNK: usize = 8;

/// One page of a lookup, seeking its buckets a chunk at a time in the page's order, until
/// `want` rows are found or the buckets run out.
fn bucketed_page(
    conn: &Connection,
    query: &AuditQuery,
    filters: &BucketFilters,
    want: usize,
) -> Result<Vec<StoredEvent>> {
    bucketed_page_in_chunks(conn, query, filters, want, FIRST_CHUNK)
}

fn bucketed_page_in_chunks(
    conn: &Connection,
    query: &AuditQuery,
    filters: &BucketFilters,
    want: usize,
    first_chunk: usize,
) -> Result<Vec<StoredEvent>> {
    let mut buckets = match bucket_bounds(conn, query, true)? {
        Some((lo, hi)) => filters
            .candidates(conn, query, lo, hi)?
            .unwrap_or_else(|| (lo..=hi).collect()),
        None => Vec::new(),
    };
    if query.order == Order::NewestFirst {
        buckets.reverse();
    }
    let mut events = Vec::with_capacity(want);
    let mut chunk = first_chunk.max(1);
    let mut rest = buckets.as_slice();
    while events.len() < want && !rest.is_empty() {
        let (these, later) = rest.split_at(chunk.min(rest.len()));
        rest = later;
        chunk = chunk.saturating_mul(4);
        fetch(conn, query, Some(these), want - events.len(), &mut events)?;
    }
    Ok(events)
}

/// Appends up to `limit` rows of `query` (cursor applied), seeking only `buckets` if given.
fn fetch(
    conn: &Connection,
    query: &AuditQuery,
    buckets: Option<&[u64]>,
    limit: usize,
    events: &mut Vec<StoredEvent>,
) -> Result<()> {
    let f = filter_in(query, true, buckets);
    let sql = format!(
        "SELECT {} FROM audit_events{}{} LIMIT {limit}",
        codec::columns(),
        f.clause,
        order_sql(query.order, f.bucketed),
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(f.params))?;
    while let Some(row) = rows.next()? {
        events.push(codec::decode(row)?);
    }
    Ok(())
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
/// A filter that may match much of the log goes through [`window`](crate::window), a lookup
/// by a bucketed key seeks its buckets a chunk at a time ([`bucketed_page`]), the rest is one
/// statement; all in one read transaction, so every step sees one snapshot.
pub(crate) fn page(conn: &Connection, query: &AuditQuery, filters: &BucketFilters) -> Result<Page> {
    let size = query.page_size();
    let want = size as usize + 1;
    let tx = conn.unchecked_transaction()?;
    let events = if let Some(index) = window::broad_index(query) {
        window::page(&tx, query, index, want as i64)?.0
    } else if uses_bucketed_index(query) {
        bucketed_page(&tx, query, filters, want)?
    } else {
        let mut events = Vec::with_capacity(want);
        fetch(&tx, query, None, want, &mut events)?;
        events
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::query::Cursor;
    use audit_core::{Actor, AuditEvent};

    #[tokio::test]
    async fn a_page_read_a_bucket_at_a_time_equals_the_page_read_in_one_statement() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.db");
        let store = crate::SqliteStore::open(&path).expect("open");
        // Five buckets; `rare` only in buckets 0 and 3, `user-N` everywhere.
        let events: Vec<AuditEvent> = (0..4 * 8192 + 300)
            .map(|i: u64| {
                let actor = if i == 50 || i == 3 * 8192 + 7 {
                    "rare".to_owned()
                } else {
                    format!("user-{}", i % 3)
                };
                AuditEvent::builder("LOGIN")
                    .actor(Actor::user(actor))
                    .build()
            })
            .collect();
        for part in events.chunks(5_000) {
            store.append(part).await.expect("append");
        }
        drop(store);
        let conn = Connection::open(&path).expect("reopen");
        let filters = BucketFilters::default();
        for actor in ["rare", "user-1", "nobody"] {
            for order in [Order::NewestFirst, Order::OldestFirst] {
                for cursor in [None, Some(2 * 8192 + 5)] {
                    let mut query = AuditQuery::new().actor(actor).order(order);
                    if let Some(seq) = cursor {
                        query = query.after(Cursor::after_seq(seq));
                    }
                    for want in [1, 3, 51, 20_000] {
                        let seqs = |chunk| -> Vec<u64> {
                            bucketed_page_in_chunks(&conn, &query, &filters, want, chunk)
                                .expect("page")
                                .iter()
                                .map(|e| e.seq)
                                .collect()
                        };
                        let one_statement = seqs(usize::MAX);
                        assert_eq!(
                            seqs(1),
                            one_statement,
                            "{actor} {order:?} {cursor:?} {want}"
                        );
                        assert!(one_statement.len() <= want);
                    }
                }
            }
        }
        let rare =
            bucketed_page_in_chunks(&conn, &AuditQuery::new().actor("rare"), &filters, 10, 1)
                .expect("page");
        assert_eq!(
            rare.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3 * 8192 + 8, 51]
        );
    }
}

//! Pages for filters whose index may match much of the log: a time range or an action
//! prefix. A probe of the newest rows, then the index's covered `seq` window, walked when
//! dense, read through the index when not; the crate docs ("Pages of broad filters") say
//! why and what it measured.
//!
//! Every branch applies the whole filter to rows in `seq` order within bounds that hold
//! every match, so the page is the same as the plain query's.

use audit_core::StoredEvent;
use audit_core::query::{ActionFilter, AuditQuery, Order};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::codec;
use crate::error::Result;
use crate::query::{Filter, cond, filter, order_sql, uses_bucketed_index};

/// Rows the probe walks before measuring the index: about 0.5 ms at 1M events.
pub(crate) const PROBE_ROWS: i64 = 4_096;

/// A window is walked when it holds at least one match per this many rows. Measured at 1M
/// events, a walked row costs 0.02 to 0.2 µs (cached or not), an index match read and
/// sorted about 1.4 µs: at this density a walk of the whole window costs no more than the
/// index plan, and usually stops far earlier.
pub(crate) const WALK_PER_MATCH: i64 = 8;

/// Which way a page was read (for tests of the choice; the rows are the same either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The probe of the newest rows filled the page, or reached the end of the log.
    Probe,
    /// The index's seq window was walked.
    Walk,
    /// The index was read within its seq window.
    Index,
    /// The index had no match beyond the probe.
    Empty,
}

/// The index that bounds `query`'s matches when it may match much of the log, or `None`
/// when the plain query is fast (a lookup index, an exact action, or no indexed filter).
pub(crate) fn broad_index(query: &AuditQuery) -> Option<&'static str> {
    if uses_bucketed_index(query) {
        return None;
    }
    if query.since.is_some() || query.until.is_some() {
        return Some("audit_events_time");
    }
    match &query.action {
        Some(ActionFilter::Prefix(prefix)) if !prefix.is_empty() => Some("audit_events_action"),
        _ => None,
    }
}

/// Up to `want` records of `query`'s page (cursor applied), read through `index`.
pub(crate) fn page(
    conn: &Connection,
    query: &AuditQuery,
    index: &str,
    want: i64,
) -> Result<(Vec<StoredEvent>, Plan)> {
    let Some((mut lo, mut hi)) = remaining(conn, query)? else {
        return Ok((Vec::new(), Plan::Empty));
    };
    let newest = query.order == Order::NewestFirst;
    let probe = if newest {
        (lo.max(hi.saturating_sub(PROBE_ROWS - 1)), hi)
    } else {
        (lo, hi.min(lo.saturating_add(PROBE_ROWS - 1)))
    };
    let mut events = rows(conn, query, None, probe, want)?;
    if events.len() as i64 >= want || probe == (lo, hi) {
        return Ok((events, Plan::Probe));
    }
    if newest {
        hi = probe.0 - 1;
    } else {
        lo = probe.1 + 1;
    }
    let Some((matches, first, last)) = extent(conn, query, index, (lo, hi))? else {
        return Ok((events, Plan::Empty));
    };
    let rest = want - events.len() as i64;
    let (plan, through) = if last - first < matches.saturating_mul(WALK_PER_MATCH) {
        (Plan::Walk, None)
    } else {
        (Plan::Index, Some(index))
    };
    events.extend(rows(conn, query, through, (first, last), rest)?);
    Ok((events, plan))
}

/// The seq range the page may come from: the log's, narrowed by the cursor.
fn remaining(conn: &Connection, query: &AuditQuery) -> Result<Option<(i64, i64)>> {
    // Two subqueries: SQLite answers a lone min() or max() from one end of the table, but
    // scans the whole table for both in one SELECT.
    let (lo, hi): (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT (SELECT min(seq) FROM audit_events), (SELECT max(seq) FROM audit_events)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
        return Ok(None);
    };
    if let Some(cursor) = query.cursor {
        let at = codec::seq_param(cursor.seq());
        match query.order {
            Order::NewestFirst => hi = hi.min(at.saturating_sub(1)),
            Order::OldestFirst => lo = lo.max(at.saturating_add(1)),
        }
    }
    Ok((lo <= hi).then_some((lo, hi)))
}

/// Up to `limit` records matching `query` with seq in `window`, in its order: walked
/// along `seq` when `index` is `None`, else read through `index`.
fn rows(
    conn: &Connection,
    query: &AuditQuery,
    index: Option<&str>,
    window: (i64, i64),
    limit: i64,
) -> Result<Vec<StoredEvent>> {
    let mut f = filter(query, true);
    within(&mut f, window);
    let access = match index {
        None => " NOT INDEXED".to_owned(),
        Some(index) => format!(" INDEXED BY {index}"),
    };
    let sql = format!(
        "SELECT {} FROM audit_events{access}{}{} LIMIT {limit}",
        codec::columns(),
        f.clause,
        order_sql(query.order, false),
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(f.params))?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(codec::decode(row)?);
    }
    Ok(events)
}

/// How many entries of `index` match `query`'s indexed filters within `window`, and their
/// lowest and highest seq; `None` when there are none. Reads the index only.
fn extent(
    conn: &Connection,
    query: &AuditQuery,
    index: &str,
    window: (i64, i64),
) -> Result<Option<(i64, i64, i64)>> {
    let mut indexed = AuditQuery::new();
    indexed.since = query.since;
    indexed.until = query.until;
    indexed.action = query.action.clone();
    let mut f = filter(&indexed, false);
    within(&mut f, window);
    let sql = format!(
        "SELECT count(*), min(seq), max(seq) FROM audit_events INDEXED BY {index}{}",
        f.clause
    );
    let (count, first, last): (i64, Option<i64>, Option<i64>) =
        conn.query_row(&sql, params_from_iter(f.params), |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    Ok(first.zip(last).map(|(first, last)| (count, first, last)))
}

fn within(f: &mut Filter, (lo, hi): (i64, i64)) {
    cond(
        f,
        "seq BETWEEN ? AND ?",
        vec![Value::Integer(lo), Value::Integer(hi)],
    );
}

#[cfg(test)]
mod tests {
    use audit_core::AuditEvent;
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use super::*;
    use crate::SqliteStore;

    fn minute(m: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_225_600, 0).unwrap() + Duration::minutes(m)
    }

    /// 12 000 events, event `i` at minute `i`, but events 6 000 to 6 299 backdated to
    /// minutes 500 to 799; half the actions start with `FTMS_`.
    async fn log() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = SqliteStore::open(&path).unwrap();
        let events: Vec<AuditEvent> = (0..12_000)
            .map(|i| {
                let at = if (6_000..6_300).contains(&i) {
                    i - 5_500
                } else {
                    i
                };
                let action = if i % 2 == 0 {
                    "FTMS_BOOKING"
                } else {
                    "AUTHN_LOGIN"
                };
                AuditEvent::builder(action).occurred_at(minute(at)).build()
            })
            .collect();
        store.append(&events).await.unwrap();
        drop(store);
        let conn = Connection::open(&path).unwrap();
        (dir, conn)
    }

    fn plan(conn: &Connection, query: &AuditQuery) -> (Vec<u64>, Plan) {
        let index = broad_index(query).unwrap();
        let (events, plan) = page(conn, query, index, 51).unwrap();
        (events.iter().map(|e| e.seq).collect(), plan)
    }

    #[tokio::test]
    async fn each_read_is_chosen_where_it_is_cheap() {
        let (_dir, conn) = log().await;
        let since = |a, b| AuditQuery::new().since(minute(a)).until(minute(b));
        // Recent matches fill the page within the probe.
        let (seqs, how) = plan(&conn, &AuditQuery::new().action_prefix("FTMS_"));
        assert_eq!((seqs[0], seqs.len(), how), (11_999, 51, Plan::Probe));
        // An old, dense range: its seq window is walked.
        let (seqs, how) = plan(&conn, &since(1_000, 3_000));
        assert_eq!((seqs[0], seqs[50], how), (3_000, 2_950, Plan::Walk));
        // The backdated block thins its range's window (600 matches over 5 800 seqs): the
        // index is read.
        let (seqs, how) = plan(&conn, &since(500, 800));
        assert_eq!((seqs[0], seqs[50], how), (6_300, 6_250, Plan::Index));
        // Oldest first, the originals come first: the probe; after them, the backdated
        // block is dense in its window.
        let oldest = since(500, 800).order(Order::OldestFirst);
        let (seqs, how) = plan(&conn, &oldest);
        assert_eq!((seqs[0], seqs[50], how), (501, 551, Plan::Probe));
        let (seqs, how) = plan(
            &conn,
            &oldest.after(audit_core::query::Cursor::after_seq(900)),
        );
        assert_eq!((seqs[0], seqs[50], how), (6_001, 6_051, Plan::Walk));
        // Nothing beyond the probe.
        let (seqs, how) = plan(&conn, &since(20_000, 30_000));
        assert_eq!((seqs.len(), how), (0, Plan::Empty));
    }

    #[test]
    fn selective_and_plain_filters_keep_the_plain_query() {
        assert_eq!(broad_index(&AuditQuery::new()), None);
        assert_eq!(broad_index(&AuditQuery::new().action("FTMS_X")), None);
        assert_eq!(broad_index(&AuditQuery::new().action_prefix("")), None);
        assert_eq!(
            broad_index(&AuditQuery::new().actor("a").since(minute(0))),
            None
        );
        assert_eq!(
            broad_index(&AuditQuery::new().action_prefix("F").until(minute(0))),
            Some("audit_events_time")
        );
        assert_eq!(
            broad_index(&AuditQuery::new().action_prefix("F")),
            Some("audit_events_action")
        );
    }
}

//! The Excel report read back with calamine: sheets, cell types and values against the store.

use crate::common::{HOSTILE, filled, report};
use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditStore, StoredEvent};
use audit_report::xlsx::SHEETS;
use calamine::{Data, DataType, Reader, Xlsx, open_workbook};

async fn write(
    store: &audit_sqlite::SqliteStore,
    query: AuditQuery,
) -> (tempfile::TempDir, std::path::PathBuf, u64) {
    let report = report(store, query).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.xlsx");
    let file = std::fs::File::create(&path).unwrap();
    let (_, rows) = audit_report::xlsx::write(store, &report, file, &())
        .await
        .unwrap();
    (dir, path, rows)
}

async fn all(store: &audit_sqlite::SqliteStore, query: AuditQuery) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut q = query.order(Order::OldestFirst).limit(1000);
    loop {
        let page = store.query(&q).await.unwrap();
        out.extend(page.events);
        match page.next {
            Some(c) => q = q.after(c),
            None => return out,
        }
    }
}

fn sheet(path: &std::path::Path, name: &str) -> calamine::Range<Data> {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    book.worksheet_range(name).unwrap()
}

/// A sheet's rows, for looking values up by the label in their first column.
fn labelled(path: &std::path::Path, name: &str) -> Vec<Vec<Data>> {
    sheet(path, name).rows().map(|r| r.to_vec()).collect()
}

/// The cell right of the first cell that reads `label`.
fn value(rows: &[Vec<Data>], label: &str) -> Data {
    rows.iter()
        .find(|r| r.first().and_then(|c| c.get_string()) == Some(label))
        .map(|r| r[1].clone())
        .unwrap_or_else(|| panic!("no row {label}"))
}

fn cell_string(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => panic!("expected a text cell, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workbook_has_the_summary_events_and_verification_sheets() {
    let (store, _db) = filled(40).await;
    let (_dir, path, _) = write(&store, AuditQuery::new()).await;
    let book: Xlsx<_> = open_workbook(&path).unwrap();
    assert_eq!(book.sheet_names(), SHEETS);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_a_row_with_typed_cells_equal_to_the_store() {
    let (store, _db) = filled(300).await;
    let (_dir, path, rows) = write(&store, AuditQuery::new()).await;
    let stored = all(&store, AuditQuery::new()).await;
    assert_eq!(rows, stored.len() as u64);
    let events = sheet(&path, "Events");
    let header: Vec<String> = events
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(cell_string)
        .collect();
    assert_eq!(header, audit_core::export::CSV_COLUMNS);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let body: Vec<&[Data]> = events.rows().skip(1).collect();
    assert_eq!(body.len(), stored.len());
    for (row, record) in body.iter().zip(&stored) {
        let e = &record.event;
        assert_eq!(
            row[col("seq")],
            Data::Float(record.seq as f64),
            "seq is a number"
        );
        let Data::DateTime(at) = &row[col("occurred_at")] else {
            panic!("occurred_at is a date: {:?}", row[col("occurred_at")]);
        };
        let at = at.as_datetime().unwrap();
        let want = e.occurred_at.naive_utc();
        assert!((at - want).num_milliseconds().abs() <= 1, "{at} vs {want}");
        assert_eq!(cell_string(&row[col("id")]), e.id.to_string());
        assert_eq!(cell_string(&row[col("action")]), e.action);
        assert_eq!(cell_string(&row[col("outcome")]), e.outcome.as_str());
        assert_eq!(
            cell_string(&row[col("actor_id")]),
            e.actor.as_ref().map(|a| a.id.clone()).unwrap_or_default()
        );
        assert_eq!(
            cell_string(&row[col("description")]),
            e.description.clone().unwrap_or_default()
        );
        assert_eq!(
            cell_string(&row[col("ip")]),
            e.ip.map(|ip| ip.to_string()).unwrap_or_default()
        );
        assert_eq!(cell_string(&row[col("hash")]), record.hash.to_hex());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn attacker_text_stays_text_and_no_cell_is_a_formula() {
    let (store, _db) = filled(200).await;
    let (_dir, path, _) = write(&store, AuditQuery::new()).await;
    let mut book: Xlsx<_> = open_workbook(&path).unwrap();
    for name in SHEETS {
        let formulas = book.worksheet_formula(name).unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "{name} holds a formula"
        );
    }
    let events = book.worksheet_range("Events").unwrap();
    let texts: Vec<String> = events
        .used_cells()
        .filter_map(|(_, _, c)| c.get_string().map(str::to_owned))
        .collect();
    for hostile in HOSTILE {
        assert!(
            texts.iter().any(|t| t == hostile),
            "{hostile:?} kept verbatim as text"
        );
    }
    assert!(texts.iter().any(|t| t == "=cmd"), "the actor =cmd is text");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_summary_counts_match_the_store() {
    let (store, _db) = filled(120).await;
    let (_dir, path, _) = write(&store, AuditQuery::new()).await;
    let rows = labelled(&path, "Summary");
    let value_after = |label: &str| value(&rows, label);
    let total = store.count(&AuditQuery::new()).await.unwrap();
    assert_eq!(
        value_after("Events listed"),
        Data::String(total.to_string())
    );
    let denied = store
        .count(&AuditQuery::new().outcome(audit_core::Outcome::Denied))
        .await
        .unwrap();
    assert_eq!(value_after("denied"), Data::Float(denied as f64));
    assert_eq!(
        value_after("FTMS_BOOKING_CREATED"),
        Data::Float(
            store
                .count(&AuditQuery::new().action("FTMS_BOOKING_CREATED"))
                .await
                .unwrap() as f64
        )
    );
    // Days are Excel dates.
    assert!(
        rows.iter()
            .any(|r| matches!(r.first(), Some(Data::DateTime(_))))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_verification_sheet_states_the_range_and_head_hash() {
    let (store, _db) = filled(50).await;
    let (_dir, path, _) = write(&store, AuditQuery::new().actor("alice")).await;
    let alice = all(&store, AuditQuery::new().actor("alice")).await;
    let rows = labelled(&path, "Verification");
    let value = |label: &str| value(&rows, label);
    assert_eq!(value("Result"), Data::String("valid".into()));
    assert_eq!(value("First seq"), Data::Float(alice[0].seq as f64));
    assert_eq!(
        value("Last seq"),
        Data::Float(alice.last().unwrap().seq as f64)
    );
    let head = store.get(alice.last().unwrap().seq).await.unwrap().unwrap();
    assert_eq!(value("Head hash"), Data::String(head.hash.to_hex()));
    assert!(matches!(value("Verified at (UTC)"), Data::DateTime(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_range_is_reported_as_a_fault_in_the_verification_sheet() {
    let (store, db) = filled(30).await;
    crate::common::tamper(db.path(), 7);
    let (_dir, path, _) = write(&store, AuditQuery::new()).await;
    let rows = labelled(&path, "Verification");
    assert_eq!(value(&rows, "Result"), Data::String("FAULT".into()));
    assert_eq!(value(&rows, "Fault seq"), Data::Float(7.0));
}

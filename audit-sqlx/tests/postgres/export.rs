//! Export of matching records as JSON Lines and CSV, streamed page by page.

use crate::common::*;
use audit_core::StoredEvent;
use audit_core::export::ExportFormat;
use audit_core::query::{AuditQuery, Order};

#[tokio::test]
async fn jsonl_export_contains_every_matching_record_in_order() {
    let url = require_pg!();
    let store = fresh_store(&url, "exportjsonl").await;
    store.append(&events(0..2500)).await.unwrap();
    let q = AuditQuery::new().actor("alice").order(Order::OldestFirst);
    let (bytes, written) = store
        .export(&q, ExportFormat::JsonLines, Vec::new())
        .await
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let exported: Vec<StoredEvent> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let want: Vec<StoredEvent> = all_records(&store)
        .await
        .into_iter()
        .filter(|r| q.matches(r))
        .collect();
    assert_eq!(written, want.len() as u64);
    assert_eq!(exported, want);
}

#[tokio::test]
async fn csv_export_has_a_header_and_one_row_per_record() {
    let url = require_pg!();
    let store = fresh_store(&url, "exportcsv").await;
    store.append(&events(0..5)).await.unwrap();
    let (bytes, written) = store
        .export(&AuditQuery::new(), ExportFormat::Csv, Vec::new())
        .await
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(written, 5);
    assert!(text.starts_with("seq,"), "{text}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.records().count(), 5);
}

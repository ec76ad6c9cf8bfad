//! Export of matching records, streamed page by page; an export verifies on its own.

use audit_core::StoredEvent;
use audit_core::chain::{ChainAnchor, ChainHasher, verify};
use audit_core::export::ExportFormat;
use audit_core::query::{AuditQuery, Order};

use crate::common::*;

#[tokio::test]
async fn jsonl_export_holds_every_record_in_order_and_verifies_on_its_own() {
    let url = require_mysql!();
    let store = store_with(&url, "exportjsonl", 2500).await;
    let q = AuditQuery::new().order(Order::OldestFirst);
    let (bytes, written) = store
        .export(&q, ExportFormat::JsonLines, Vec::new())
        .await
        .unwrap();
    let exported: Vec<StoredEvent> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(written, 2500);
    assert_eq!(exported, all_records(&store).await);
    let report = verify(ChainHasher::sha256(), ChainAnchor::GENESIS, &exported, None);
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test]
async fn csv_export_has_a_header_and_one_row_per_matching_record() {
    let url = require_mysql!();
    let store = store_with(&url, "exportcsv", 6).await;
    let (bytes, written) = store
        .export(
            &AuditQuery::new().actor("alice"),
            ExportFormat::Csv,
            Vec::new(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(written, 2);
    assert!(text.starts_with("seq,"), "{text}");
    assert_eq!(
        csv::Reader::from_reader(text.as_bytes()).records().count(),
        2
    );
}

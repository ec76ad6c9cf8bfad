//! Export of query results as JSON Lines and CSV.

use crate::common::{fresh_store, varied_events};
use audit_core::export::ExportFormat;
use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditEvent, StoredEvent};

#[tokio::test]
async fn json_lines_export_holds_exactly_the_matching_records() {
    let (store, _dir) = fresh_store();
    store.append(&varied_events(3, 200)).await.unwrap();
    let query = AuditQuery::new().actor("alice").order(Order::OldestFirst);
    let (count, bytes) = store
        .export(query.clone(), ExportFormat::JsonLines, Vec::new())
        .await
        .unwrap();
    let exported: Vec<StoredEvent> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut expected = Vec::new();
    store
        .for_each_blocking(&query, |r| {
            expected.push(r.clone());
            Ok(())
        })
        .unwrap();
    assert!(count > 0);
    assert_eq!(count as usize, exported.len());
    assert_eq!(exported, expected);
}

#[tokio::test]
async fn export_ignores_the_page_size() {
    let (store, _dir) = fresh_store();
    store.append(&varied_events(4, 120)).await.unwrap();
    let (count, _) = store
        .export(
            AuditQuery::new().limit(10),
            ExportFormat::JsonLines,
            std::io::sink(),
        )
        .await
        .unwrap();
    assert_eq!(count, 120);
}

#[tokio::test]
async fn csv_export_escapes_formulas() {
    let (store, _dir) = fresh_store();
    let event = AuditEvent::builder("USER_LOGIN")
        .description("=HYPERLINK(\"http://evil\")")
        .build();
    store.append(&[event]).await.unwrap();
    let (_, bytes) = store
        .export(AuditQuery::new(), ExportFormat::Csv, Vec::new())
        .await
        .unwrap();
    let csv = String::from_utf8(bytes).unwrap();
    assert!(csv.starts_with("seq,"), "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
}

#[tokio::test]
async fn csv_export_of_nothing_is_the_header() {
    let (store, _dir) = fresh_store();
    let (count, bytes) = store
        .export(AuditQuery::new(), ExportFormat::Csv, Vec::new())
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert_eq!(String::from_utf8(bytes).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn a_failing_writer_is_an_error() {
    #[derive(Debug)]
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (store, _dir) = fresh_store();
    store.append(&varied_events(5, 2000)).await.unwrap();
    let err = store
        .export(AuditQuery::new(), ExportFormat::JsonLines, Broken)
        .await
        .unwrap_err();
    assert!(matches!(err, audit_sqlite::Error::Export(_)), "{err:?}");
}

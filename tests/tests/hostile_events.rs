//! Hostile event shapes through the pipeline into every store: deep nesting, oversized
//! fields, NUL, CR/LF, right-to-left and 4-byte unicode. Each is stored as itself or as an
//! `AUDIT_EVENT_INVALID` stand-in (never lost, never crashing the process), the stores read
//! everything back, and the chain verifies.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use audit_core::prepare::INVALID_EVENT_ACTION;
use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditEvent, AuditSink, AuditStore, ChainHasher, StoredEvent};
use audit_integration_tests::{database_url, fresh_mysql, fresh_pg, fresh_sqlite, mysql_url};
use audit_pipeline::Auditor;
use serde_json::{Map, Value, json};

fn nested(levels: usize) -> Value {
    let mut value = Value::from("leaf");
    for _ in 0..levels {
        let mut map = Map::new();
        map.insert("k".to_owned(), value);
        value = Value::Object(map);
    }
    value
}

/// (event, whether it is valid as recorded)
fn hostile() -> Vec<(AuditEvent, bool)> {
    let e = |code: &str| AuditEvent::builder(code.to_owned());
    vec![
        (e("DEEP_OK").metadata(nested(31)).build(), true),
        (e("DEEP_10K").metadata(nested(10_000)).build(), false),
        (e("DEEP_300").metadata(nested(300)).build(), false),
        (e("NUL\u{0}CODE").build(), false),
        (
            e("NUL_META").metadata(json!({"k": "a\u{0}b"})).build(),
            false,
        ),
        (e("NUL_KEY").metadata(json!({"a\u{0}": 1})).build(), false),
        (e("CRLF").description("line\r\nbreak").build(), true),
        (
            e("CRLF_META").metadata(json!({"k": "a\r\nb"})).build(),
            true,
        ),
        (
            e("UNICODE")
                .description("مرحبا \u{202e}txt.exe 🚀 𝄞")
                .metadata(json!({"ключ": "値 👩‍👩‍👧", "e": 1e300}))
                .build(),
            true,
        ),
        (e("HUGE").description("x".repeat(1 << 20)).build(), false),
        (
            e("BIG_META")
                .metadata(json!({ "blob": "y".repeat(70 * 1024) }))
                .build(),
            false,
        ),
    ]
}

async fn through_the_pipeline(sink: impl AuditSink + Clone, store: &dyn AuditStore) {
    let auditor = Auditor::builder(sink).build().unwrap();
    // The recorded events are moved into the pipeline (a deep one is never cloned or freed
    // recursively here); what the check needs is kept: the valid ones whole, the others' ids.
    let mut expected = Vec::new();
    for (event, valid) in hostile() {
        expected.push((
            event.action.to_string(),
            event.id,
            valid.then(|| event.clone()),
        ));
        auditor.record(event);
    }
    auditor.shutdown().await.unwrap();
    let stored: Vec<StoredEvent> = store
        .query(&AuditQuery::new().order(Order::OldestFirst).limit(100))
        .await
        .unwrap()
        .events;
    assert_eq!(stored.len(), expected.len(), "one stored record per event");
    for ((action, id, kept), got) in expected.iter().zip(&stored) {
        match kept {
            Some(sent) => assert_eq!(got.event, *sent, "{action} kept as it was"),
            None => {
                assert_eq!(got.event.action, INVALID_EVENT_ACTION, "{action}");
                assert_eq!(got.event.metadata["original_id"], id.to_string());
            }
        }
    }
    let report = store.verify(Default::default(), None).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_events_are_stored_or_stood_in_for_in_sqlite() {
    let (store, _dir) = fresh_sqlite();
    through_the_pipeline(store.clone(), &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_events_are_stored_or_stood_in_for_in_postgres() {
    let Some(url) = database_url() else { return };
    let store = fresh_pg(&url, "hostile", ChainHasher::sha256()).await;
    through_the_pipeline(store.clone(), &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_events_are_stored_or_stood_in_for_in_mysql() {
    let Some(url) = mysql_url() else { return };
    let store = fresh_mysql(&url, "hostile", ChainHasher::sha256()).await;
    through_the_pipeline(store.clone(), &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_events_are_stored_or_stood_in_for_in_the_memory_store() {
    let store = audit_core::sinks::MemorySink::new();
    through_the_pipeline(store.clone(), &store).await;
}

//! Hostile input: whatever an application may put in an event is stored and read back exactly,
//! hashes to what is stored, or is refused with a typed error before anything is written; and
//! rows forged behind the library's back are reported, not obeyed.

use audit_core::chain::FaultKind;
use audit_core::query::AuditQuery;
use audit_core::store::VerifyScope;
use audit_core::validate::{MAX_ID_LEN, MAX_METADATA_BYTES, MAX_TEXT_LEN, MAX_USER_AGENT_LEN};
use audit_core::{Actor, AuditEvent, AuditStore, ChainHasher};
use audit_sqlx::Error;
use chrono::TimeZone;
use serde_json::{Value, json};

use crate::common::*;
use crate::conformance::insert_row;
use crate::grants::app_user;

/// Stores `event` alone and returns what the store gives back, after checking the chain.
async fn round_trip(tag: &str, event: AuditEvent) -> AuditEvent {
    let url = mysql_url().expect("checked by the caller");
    let store = fresh_store(&url, tag).await;
    let pos = store
        .append(std::slice::from_ref(&event))
        .await
        .expect("the event is stored");
    let stored = store
        .get(pos[0].seq)
        .await
        .expect("read back")
        .expect("the event is there");
    assert_chain_links(&all_records(&store).await, &ChainHasher::sha256());
    let report = store.verify(VerifyScope::All, None).await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    stored.event
}

fn nested(depth: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..depth {
        v = json!({ "d": v });
    }
    v
}

#[tokio::test]
async fn nul_characters_in_metadata_are_refused_before_anything_is_written() {
    let url = require_mysql!();
    check_nul_metadata_is_refused(fresh_store(&url, "nul").await).await;
}

#[tokio::test]
async fn four_byte_unicode_round_trips_in_every_text_field() {
    let _url = require_mysql!();
    let event = AuditEvent::builder("A")
        .actor(Actor::user("🚀-ünï-𝔘"))
        .entity("😀type", "𐍈-id")
        .description("réservation annulée — 🚀 𝄞")
        .failure("no seats 🪑")
        .user_agent("agent/𝟙")
        .request_id("req-🧾")
        .session_id("sess-🔑")
        .tenant("t-🏢")
        .metadata(json!({"😀": "𝄞", "nested": {"ключ": ["значение", "🚀"]}}))
        .build();
    assert_eq!(round_trip("utf8mb4", event.clone()).await, event);
}

#[tokio::test]
async fn cr_lf_and_tab_in_free_text_round_trip() {
    let _url = require_mysql!();
    let event = AuditEvent::builder("A")
        .description("line 1\r\nline 2\n\tindented\r")
        .failure("reason\r\nwith\tbreaks")
        .metadata(json!({"text": "a\r\nb\u{1f}c\u{7f}"}))
        .build();
    assert_eq!(round_trip("crlf", event.clone()).await, event);
}

#[tokio::test]
async fn text_at_every_length_limit_round_trips() {
    let _url = require_mysql!();
    // Multi-byte characters fill the byte limits with fewer characters than bytes.
    let fill = |bytes: usize| "é".repeat(bytes / 2);
    let big_metadata = json!({ "blob": "x".repeat(MAX_METADATA_BYTES - 20) });
    let event = AuditEvent::builder("A".repeat(128))
        .actor(Actor::user(fill(MAX_ID_LEN)))
        .entity(fill(MAX_ID_LEN), fill(MAX_ID_LEN))
        .description(fill(MAX_TEXT_LEN))
        .failure(fill(MAX_TEXT_LEN))
        .user_agent(fill(MAX_USER_AGENT_LEN))
        .request_id(fill(MAX_ID_LEN))
        .session_id(fill(MAX_ID_LEN))
        .tenant(fill(MAX_ID_LEN))
        .metadata(big_metadata)
        .build();
    event
        .validate()
        .expect("the event is at, not over, the limits");
    assert_eq!(round_trip("limits", event.clone()).await, event);
}

#[tokio::test]
async fn metadata_nested_to_the_limit_round_trips() {
    let _url = require_mysql!();
    // 32 nested objects, the metadata object among them: the most the event model allows,
    // and more than MariaDB's JSON_VALID accepts (which is why the column is not checked).
    let event = AuditEvent::builder("A")
        .metadata(nested(audit_core::validate::MAX_METADATA_DEPTH))
        .build();
    assert_eq!(round_trip("deep", event.clone()).await, event);
}

#[tokio::test]
async fn deeper_metadata_is_refused_before_anything_is_written() {
    let url = require_mysql!();
    let store = fresh_store(&url, "toodeep").await;
    let bad = AuditEvent::builder("A")
        .metadata(nested(audit_core::validate::MAX_METADATA_DEPTH + 1))
        .build();
    let err = store.append(&[event(0), bad]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid(audit_core::ValidationError::MetadataTooDeep { .. })
        ),
        "{err}"
    );
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 0);
}

#[tokio::test]
async fn float_and_huge_numbers_in_metadata_hash_to_what_is_stored() {
    let _url = require_mysql!();
    let event = AuditEvent::builder("A")
        .metadata(
            json!({"big": 1e16, "tiny": 1.5e-7, "negzero": -0.0, "huge": 1e300,
                         "u64": u64::MAX, "i64": i64::MIN, "ratio": 0.1}),
        )
        .build();
    assert_eq!(round_trip("numbers", event.clone()).await, event);
}

#[tokio::test]
async fn sql_in_text_is_stored_as_text() {
    let _url = require_mysql!();
    let event = AuditEvent::builder("A")
        .description("'); DROP TABLE audit_events; -- \\ ` \" ?")
        .actor(Actor::user("x' OR '1'='1"))
        .metadata(json!({"q": "?, ?); DELETE FROM x; --"}))
        .build();
    assert_eq!(round_trip("sqltext", event.clone()).await, event);
}

#[tokio::test]
async fn trailing_spaces_and_case_tell_values_apart() {
    let url = require_mysql!();
    let store = fresh_store(&url, "nopad").await;
    let by = |actor: &str| AuditEvent::builder("A").actor(Actor::user(actor)).build();
    store
        .append(&[by("alice"), by("alice "), by("Alice"), by("alicé")])
        .await
        .unwrap();
    for actor in ["alice", "alice ", "Alice", "alicé"] {
        let page = store.query(&AuditQuery::new().actor(actor)).await.unwrap();
        let got: Vec<&str> = page
            .events
            .iter()
            .map(|r| r.event.actor.as_ref().unwrap().id.as_str())
            .collect();
        assert_eq!(got, vec![actor], "actor {actor:?}");
    }
    let groups = store
        .count_by(&AuditQuery::new(), audit_core::query::CountBy::Actor)
        .await
        .unwrap();
    assert_eq!(groups.len(), 4);
}

#[tokio::test]
async fn microsecond_times_before_1970_round_trip() {
    let _url = require_mysql!();
    let at = chrono::Utc
        .with_ymd_and_hms(1969, 7, 20, 20, 17, 40)
        .unwrap()
        + chrono::Duration::microseconds(123_456);
    let event = AuditEvent::builder("A").occurred_at(at).build();
    assert_eq!(round_trip("oldtime", event.clone()).await, event);
}

#[tokio::test]
async fn times_datetime_cannot_hold_are_refused_before_anything_is_written() {
    let url = require_mysql!();
    let store = fresh_store(&url, "badtime").await;
    let ancient = chrono::Utc
        .with_ymd_and_hms(999, 12, 31, 23, 59, 59)
        .unwrap();
    let bad = AuditEvent::builder("A").occurred_at(ancient).build();
    let err = store.append(&[event(0), bad]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unstorable {
                field: "occurred_at",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.count(&AuditQuery::new()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_row_forged_by_the_app_user_is_reported_and_the_writer_goes_on() {
    let url = require_mysql!();
    let store = store_with(&url, "forged", 5).await;
    let app_url = app_user(&url, &store).await;
    // Linked to record 5 with a valid SHA-256 hash: the chain alone cannot tell it apart.
    let forged = AuditEvent::builder("FTMS_BOOKING_CREATED")
        .actor(Actor::user("mallory"))
        .build();
    insert_row(&app_url, &table(&store, "events"), 6, &forged, None)
        .await
        .expect("the app user may insert");

    let report = verify_every_way(&|p| store.verify_chain_with(VerifyScope::All, None, p)).await;
    let fault = report.fault.expect("the forged row is reported");
    assert_eq!((fault.seq, fault.kind), (6, FaultKind::Inserted));

    // The writer's next batch would take seq 6: it goes on after the forged row instead.
    let positions = store.append(&events(5..8)).await.unwrap();
    let seqs: Vec<u64> = positions.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, vec![7, 8, 9]);
    let report = verify_every_way(&|p| store.verify_chain_with(VerifyScope::All, None, p)).await;
    let fault = report.fault.expect("the forged row is still reported");
    assert_eq!((fault.seq, fault.kind), (6, FaultKind::Inserted));
    // The real chain links around it: record 7 follows record 5.
    let before = store.get(5).await.unwrap().unwrap();
    let after = store.get(7).await.unwrap().unwrap();
    assert_eq!(after.prev_hash, before.hash);
}

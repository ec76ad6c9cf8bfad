//! PgStore against a real PostgreSQL server: writing, reading, counting, verifying.

use crate::common::*;
use audit_core::query::{AuditQuery, CountBy, Order};
use audit_core::store::VerifyScope;
use audit_core::{AuditEvent, AuditSink, AuditStore, ChainHasher, StoredEvent};
use audit_sqlx::{Error, InsertMode, PgStore};
use serde_json::json;

#[tokio::test]
async fn appended_batch_gets_consecutive_seqs_from_one() {
    let url = require_pg!();
    let store = fresh_store(&url, "seqs").await;
    let first = store.append(&events(0..5)).await.unwrap();
    let second = store.append(&events(5..8)).await.unwrap();
    let seqs: Vec<u64> = first.iter().chain(&second).map(|p| p.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn sink_write_acknowledges_each_event_with_its_chain_position() {
    let url = require_pg!();
    let store = fresh_store(&url, "ack").await;
    let batch = events(0..3);
    let ack = store.write(&batch).await.unwrap();
    for (i, sent) in batch.iter().enumerate() {
        let pos = ack.position(i).expect("chained ack");
        let stored = store.get(pos.seq).await.unwrap().expect("stored");
        assert_eq!(stored.hash, pos.hash);
        assert_eq!(stored.event.id, sent.id);
    }
}

#[tokio::test]
async fn stored_chain_links_every_record_to_the_previous_one() {
    let url = require_pg!();
    let store = fresh_store(&url, "links").await;
    for chunk in events(0..40).chunks(7) {
        store.append(chunk).await.unwrap();
    }
    assert_chain_links(&all_records(&store).await, &ChainHasher::sha256());
}

#[tokio::test]
async fn every_field_round_trips_unchanged() {
    let url = require_pg!();
    let store = fresh_store(&url, "roundtrip").await;
    let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
        .actor(audit_core::Actor::service("billing"))
        .entity("booking", "b-1")
        .denied("role guest")
        .ip("2001:db8::1".parse().unwrap())
        .user_agent("curl/8.5")
        .request_id("req-1")
        .session_id("sess-1")
        .tenant("acme")
        .description("multi\nline\tdescription é")
        .severity(audit_core::Severity::Critical)
        .metadata(json!({"n": 3, "neg": -7, "f": 0.25, "nested": {"b": [1, "x", null, true]}}))
        .build();
    let pos = store.append(std::slice::from_ref(&event)).await.unwrap();
    let stored = store.get(pos[0].seq).await.unwrap().unwrap();
    assert_eq!(stored.event, event);
}

#[tokio::test]
async fn metadata_numbers_that_jsonb_rewrites_still_hash_to_the_stored_form() {
    let url = require_pg!();
    let store = fresh_store(&url, "jsonbnum").await;
    let event = AuditEvent::builder("A")
        .metadata(json!({"big": 1e16, "tiny": 1.5e-7, "negzero": -0.0, "huge": 1e300}))
        .build();
    store.append(&[event]).await.unwrap();
    assert_chain_links(&all_records(&store).await, &ChainHasher::sha256());
}

#[tokio::test]
async fn nul_character_in_metadata_is_refused_before_writing() {
    let url = require_pg!();
    check_nul_metadata_is_refused(fresh_store(&url, "nul").await).await;
}

#[tokio::test]
async fn invalid_event_rejects_the_whole_batch() {
    let url = require_pg!();
    check_invalid_event_rejects_the_whole_batch(fresh_store(&url, "invalid").await).await;
}

#[tokio::test]
async fn every_filter_returns_exactly_what_the_reference_matches() {
    let url = require_pg!();
    let store = fresh_store(&url, "filters").await;
    store.append(&events(0..60)).await.unwrap();
    let all = all_records(&store).await;
    let mid = all[30].event.occurred_at;
    let queries = vec![
        AuditQuery::new().actor("alice"),
        AuditQuery::new().action("AUTHN_LOGIN_OK"),
        AuditQuery::new().action_prefix("FTMS_"),
        AuditQuery::new().action_prefix("FTMS_BOOKING_C"),
        AuditQuery::new().category(audit_core::Category::Authentication),
        AuditQuery::new().outcome(audit_core::Outcome::Failure),
        AuditQuery::new().entity_type("booking").entity_id("b-3"),
        AuditQuery::new().since(mid),
        AuditQuery::new().until(mid),
        AuditQuery::new().ip_in("10.0.0.0/8".parse().unwrap()),
        AuditQuery::new().ip_in("2001:db8::/32".parse().unwrap()),
        AuditQuery::new().request_id("r-17"),
        AuditQuery::new().tenant("globex"),
        AuditQuery::new().description_contains("number 1"),
        AuditQuery::new().description_contains("%"),
        AuditQuery::new()
            .actor("bob")
            .tenant("acme")
            .outcome(audit_core::Outcome::Success),
        AuditQuery::new().actor("nobody"),
    ];
    for q in queries {
        let want: Vec<u64> = all
            .iter()
            .rev()
            .filter(|r| q.matches(r))
            .map(|r| r.seq)
            .collect();
        let got: Vec<u64> = store
            .query(&q.clone().limit(1000))
            .await
            .unwrap()
            .events
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(got, want, "query {q:?}");
        assert_eq!(
            store.count(&q).await.unwrap(),
            want.len() as u64,
            "count {q:?}"
        );
    }
}

#[tokio::test]
async fn cidr_filter_excludes_addresses_outside_the_network() {
    let url = require_pg!();
    let store = fresh_store(&url, "cidr").await;
    let at = |ip: &str| AuditEvent::builder("A").ip(ip.parse().unwrap()).build();
    store
        .append(&[
            at("10.1.2.3"),
            at("11.0.0.1"),
            at("10.255.0.1"),
            at("::ffff:10.1.1.1"),
        ])
        .await
        .unwrap();
    let page = store
        .query(&AuditQuery::new().ip_in("10.0.0.0/8".parse().unwrap()))
        .await
        .unwrap();
    let ips: Vec<String> = page
        .events
        .iter()
        .map(|r| r.event.ip.unwrap().to_string())
        .collect();
    assert_eq!(ips, vec!["10.255.0.1", "10.1.2.3"]);
}

async fn walk(store: &PgStore, order: Order, size: u32) -> Vec<u64> {
    let mut q = AuditQuery::new().order(order).limit(size);
    let mut seqs = Vec::new();
    loop {
        let page = store.query(&q).await.expect("page");
        assert!(page.events.len() <= size as usize);
        seqs.extend(page.events.iter().map(|r| r.seq));
        match page.next {
            Some(cursor) => {
                // The cursor survives its text form, as an HTTP API would pass it.
                let text = cursor.to_string();
                q = q.after(text.parse().expect("page"));
            }
            None => return seqs,
        }
    }
}

#[tokio::test]
async fn keyset_pages_visit_every_record_once_newest_first() {
    let url = require_pg!();
    let store = fresh_store(&url, "pagesdesc").await;
    store.append(&events(0..23)).await.unwrap();
    assert_eq!(
        walk(&store, Order::NewestFirst, 5).await,
        (1..=23).rev().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn keyset_pages_visit_every_record_once_oldest_first() {
    let url = require_pg!();
    let store = fresh_store(&url, "pagesasc").await;
    store.append(&events(0..20)).await.unwrap();
    assert_eq!(
        walk(&store, Order::OldestFirst, 5).await,
        (1..=20).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn count_by_matches_grouping_the_reference_records() {
    let url = require_pg!();
    let store = fresh_store(&url, "countby").await;
    store.append(&events(0..30)).await.unwrap();
    let all = all_records(&store).await;
    let q = AuditQuery::new().tenant("acme");
    for by in [CountBy::Action, CountBy::Actor, CountBy::Day] {
        let mut want = std::collections::BTreeMap::<String, u64>::new();
        for r in all.iter().filter(|r| q.matches(r)) {
            *want.entry(by.key(r)).or_default() += 1;
        }
        let got: Vec<(String, u64)> = store
            .count_by(&q, by)
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.key, g.count))
            .collect();
        assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{by:?}");
    }
}

#[tokio::test]
async fn count_by_actor_groups_events_without_actor_under_empty_key() {
    let url = require_pg!();
    let store = fresh_store(&url, "countnoactor").await;
    store
        .append(&[AuditEvent::builder("A").build(), event(0)])
        .await
        .unwrap();
    let got = store
        .count_by(&AuditQuery::new(), CountBy::Actor)
        .await
        .unwrap();
    let keys: Vec<&str> = got.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, vec!["", "alice"]);
}

#[tokio::test]
async fn head_is_the_last_written_position() {
    let url = require_pg!();
    let store = fresh_store(&url, "head").await;
    assert_eq!(store.head().await.unwrap(), None);
    let pos = store.append(&events(0..4)).await.unwrap();
    let head = store.head().await.unwrap().unwrap();
    assert_eq!((head.seq, head.hash), (pos[3].seq, pos[3].hash));
}

#[tokio::test]
async fn get_of_an_unknown_seq_is_none() {
    let url = require_pg!();
    let store = fresh_store(&url, "getnone").await;
    store.append(&events(0..2)).await.unwrap();
    assert!(store.get(3).await.unwrap().is_none());
    assert!(store.get(u64::MAX).await.unwrap().is_none());
}

#[tokio::test]
async fn unnest_insert_mode_writes_the_same_chain_as_copy() {
    let url = require_pg!();
    let batch = events(0..12);
    let copy = fresh_store(&url, "modecopy").await;
    let unnest = PgStore::connect_with(options(&url, "modeunnest").insert_mode(InsertMode::Unnest))
        .await
        .unwrap();
    copy.append(&batch).await.unwrap();
    unnest.append(&batch).await.unwrap();
    let a: Vec<StoredEvent> = all_records(&copy).await;
    let b: Vec<StoredEvent> = all_records(&unnest).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn concurrent_tasks_on_one_pool_build_one_gap_free_chain() {
    let url = require_pg!();
    check_concurrent_tasks_build_one_chain(fresh_store(&url, "tasks").await).await;
}

#[tokio::test]
async fn a_schema_keeps_the_chain_algorithm_of_its_first_write() {
    let url = require_pg!();
    check_the_chain_keeps_its_first_algorithm(fresh_store(&url, "algo").await).await;
}

#[tokio::test]
async fn hmac_chain_links_with_the_key() {
    let url = require_pg!();
    check_hmac_chain_links_with_the_key(fresh_store(&url, "hmac").await).await;
}

#[tokio::test]
async fn connecting_twice_to_one_schema_migrates_once() {
    let url = require_pg!();
    let opts = options(&url, "remigrate");
    let a = PgStore::connect_with(opts.clone()).await.unwrap();
    a.append(&events(0..2)).await.unwrap();
    let b = PgStore::connect_with(opts).await.unwrap();
    assert_eq!(b.count(&AuditQuery::new()).await.unwrap(), 2);
}

#[tokio::test]
async fn connecting_without_migrations_to_an_empty_schema_is_a_schema_error() {
    let url = require_pg!();
    let err = PgStore::connect_with(options(&url, "nomigrate").migrate(false))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
}

#[tokio::test]
async fn a_schema_from_a_newer_library_version_is_refused() {
    let url = require_pg!();
    let opts = options(&url, "newer");
    let store = PgStore::connect_with(opts.clone()).await.unwrap();
    exec(
        &url,
        &format!(
            "INSERT INTO {}.audit_schema_migrations (version, description, checksum) \
             VALUES (99, 'future', '\\x00')",
            store.schema()
        ),
    )
    .await
    .unwrap();
    let err = PgStore::connect_with(opts).await.unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
}

#[tokio::test]
async fn schema_names_that_need_quoting_are_refused() {
    let err = audit_sqlx::PgOptions::new("postgres://x@127.0.0.1/x")
        .schema("Audit; DROP")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }));
}

#[tokio::test]
async fn verify_accepts_an_untouched_chain() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifyok").await;
    for chunk in events(0..30).chunks(8) {
        store.append(chunk).await.unwrap();
    }
    let report = verify_every_way(&|p| store.verify_chain_with(VerifyScope::All, None, p)).await;
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 30);
}

#[tokio::test]
async fn verify_names_the_first_modified_record() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifymod").await;
    store.append(&events(0..10)).await.unwrap();
    tamper(&url, &store, |events| {
        format!("UPDATE {events} SET description = 'forged' WHERE seq = 6")
    })
    .await;
    let report = verify_every_way(&|p| store.verify_chain_with(VerifyScope::All, None, p)).await;
    let fault = report.fault.expect("tampering detected");
    assert_eq!(fault.seq, 6);
    assert_eq!(fault.kind, audit_core::chain::FaultKind::Modified);
}

#[tokio::test]
async fn verify_of_a_range_starts_from_the_record_before_it() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifyrange").await;
    store.append(&events(0..10)).await.unwrap();
    assert_range_4_to_7_verifies(&store).await;
}

#[tokio::test]
async fn verify_with_a_later_checkpoint_reports_truncation() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifytrunc").await;
    store.append(&events(0..5)).await.unwrap();
    let head = store.head().await.unwrap().unwrap();
    tamper(&url, &store, |events| {
        format!("DELETE FROM {events} WHERE seq = 5")
    })
    .await;
    let report =
        verify_every_way(&|p| store.verify_chain_with(VerifyScope::All, Some(&head), p)).await;
    assert_eq!(
        report.fault.map(|f| f.kind),
        Some(audit_core::chain::FaultKind::Truncated)
    );
}

#[tokio::test]
async fn retention_removes_an_old_prefix_and_the_rest_still_verifies() {
    let url = require_pg!();
    check_retention_removes_an_old_prefix(fresh_store(&url, "retention").await).await;
}

#[tokio::test]
async fn retention_stops_at_the_first_event_newer_than_the_cutoff() {
    let url = require_pg!();
    check_retention_stops_at_the_first_newer_event(fresh_store(&url, "retentionprefix").await)
        .await;
}

#[tokio::test]
async fn retried_batch_is_acknowledged_with_its_stored_positions_and_not_stored_again() {
    let url = require_pg!();
    check_retried_batch_is_acknowledged(fresh_store(&url, "retry").await).await;
}

#[tokio::test]
async fn batch_mixing_stored_and_new_events_stores_only_the_new_ones() {
    let url = require_pg!();
    check_mixed_batch_stores_only_new_events(fresh_store(&url, "retrymix").await).await;
}

#[tokio::test]
async fn the_same_event_twice_in_one_batch_is_stored_once() {
    let url = require_pg!();
    check_same_event_twice_is_stored_once(fresh_store(&url, "dupinbatch").await).await;
}

#[tokio::test]
async fn verify_reports_a_row_that_no_longer_decodes_as_modified() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifyundecodable").await;
    store.append(&events(0..6)).await.unwrap();
    tamper(&url, &store, |events| {
        format!("UPDATE {events} SET category = 'bogus' WHERE seq = 4")
    })
    .await;
    let report = verify_every_way(&|p| store.verify_chain_with(VerifyScope::All, None, p)).await;
    let fault = report.fault.expect("tampering detected");
    assert_eq!(
        (fault.seq, fault.kind),
        (4, audit_core::chain::FaultKind::Modified)
    );
}

#[tokio::test]
async fn verify_of_a_range_right_after_purged_history_starts_at_the_anchor() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifyrangeanchor").await;
    let old = chrono::Utc::now() - chrono::Duration::days(400);
    let old_events: Vec<AuditEvent> = (0..3)
        .map(|_| AuditEvent::builder("OLD").occurred_at(old).build())
        .collect();
    store.append(&old_events).await.unwrap();
    store.append(&events(0..4)).await.unwrap();
    store
        .purge_before(chrono::Utc::now() - chrono::Duration::days(365))
        .await
        .unwrap();
    assert_range_4_to_7_verifies(&store).await;
}

#[tokio::test]
async fn verify_of_an_empty_or_inverted_range_is_an_invalid_request() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifybadrange").await;
    store.append(&events(0..3)).await.unwrap();
    for (from, to) in [(0, 2), (3, 2)] {
        let err = store
            .verify(VerifyScope::Range { from, to }, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, audit_core::StoreError::InvalidRequest(_)),
            "{from}..={to}: {err}"
        );
    }
}

#[tokio::test]
async fn verify_across_fetched_batches_gives_the_same_report_on_every_thread_count() {
    let url = require_pg!();
    let store = fresh_store(&url, "verifybatches").await;
    for chunk in events(0..ACROSS_BATCHES).chunks(1500) {
        store.append(chunk).await.unwrap();
    }
    check_verify_across_fetched_batches(
        |p| store.verify_chain_with(VerifyScope::All, None, p),
        |sql| tamper(&url, &store, move |events| sql.replace("{events}", events)),
    )
    .await;
}

/// Records 4 to 7 verify on their own, from the record before them.
async fn assert_range_4_to_7_verifies(store: &PgStore) {
    let report = verify_every_way(&|p| {
        store.verify_chain_with(VerifyScope::Range { from: 4, to: 7 }, None, p)
    })
    .await;
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 4);
}

#[test]
fn the_store_outlives_the_runtimes_that_used_it() {
    let Some(url) = database_url() else { return };
    check_store_outlives_the_runtimes_that_used_it(|| async move {
        fresh_store(&url, "runtimes").await
    });
}

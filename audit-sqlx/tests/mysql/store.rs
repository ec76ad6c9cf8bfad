//! MySqlStore writing and reading beyond the conformance suite: idempotent retries, the chain
//! algorithm, migrations, concurrency, retention, CIDR ranges, refused batches.

use audit_core::query::AuditQuery;
use audit_core::store::VerifyScope;
use audit_core::{AuditEvent, AuditStore, ChainHasher};
use audit_sqlx::{Error, MySqlOptions, MySqlStore};

use sqlx_core::query_scalar::query_scalar;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::MySql;

use crate::common::*;

#[tokio::test]
async fn connect_takes_just_a_url_and_keeps_tables_in_its_database() {
    let url = require_mysql!();
    let db = unique_name("url");
    exec(&url, &format!("CREATE DATABASE {db}")).await.unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let store = MySqlStore::connect(format!("{base}/{db}")).await.unwrap();
    assert_eq!((store.database(), store.table_prefix()), (None, "audit_"));
    store.append(&events(0..2)).await.unwrap();
    let stored: i64 = query_scalar::<MySql, i64>(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{db}`.`audit_events`"
    )))
    .fetch_one(&mut connect(&url).await)
    .await
    .unwrap();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn retried_batch_is_acknowledged_with_its_stored_positions_and_not_stored_again() {
    let url = require_mysql!();
    check_retried_batch_is_acknowledged(fresh_store(&url, "retry").await).await;
}

#[tokio::test]
async fn batch_mixing_stored_and_new_events_stores_only_the_new_ones() {
    let url = require_mysql!();
    check_mixed_batch_stores_only_new_events(fresh_store(&url, "retrymix").await).await;
}

#[tokio::test]
async fn the_same_event_twice_in_one_batch_is_stored_once() {
    let url = require_mysql!();
    check_same_event_twice_is_stored_once(fresh_store(&url, "dupinbatch").await).await;
}

#[tokio::test]
async fn a_batch_larger_than_one_insert_statement_is_one_chain() {
    let url = require_mysql!();
    let store = fresh_store(&url, "bigbatch").await;
    // 65 535 placeholders allow 3 120 rows per statement: this batch needs two.
    let positions = store.append(&events(0..4000)).await.unwrap();
    assert_eq!(positions.last().map(|p| p.seq), Some(4000));
    assert_chain_links(&all_records(&store).await, &ChainHasher::sha256());
}

#[tokio::test]
async fn invalid_event_rejects_the_whole_batch_without_retry() {
    let url = require_mysql!();
    check_invalid_event_rejects_the_whole_batch(fresh_store(&url, "invalid").await).await;
}

#[tokio::test]
async fn cidr_filter_is_exact_for_ipv4_ipv6_and_mapped_addresses() {
    let url = require_mysql!();
    let store = fresh_store(&url, "cidr").await;
    let at = |ip: &str| AuditEvent::builder("A").ip(ip.parse().unwrap()).build();
    // 0a00::/16 shares its first bytes with 10.0.0.0/8.
    store
        .append(&[
            at("10.1.2.3"),
            at("11.0.0.1"),
            at("10.255.255.255"),
            at("::ffff:10.1.1.1"),
            at("a00::1"),
            at("2001:db8::7"),
        ])
        .await
        .unwrap();
    let ips = |net: &str| {
        let store = store.clone();
        let q = AuditQuery::new().ip_in(net.parse().unwrap());
        async move {
            let page = store.query(&q).await.unwrap();
            page.events
                .iter()
                .map(|r| r.event.ip.unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ips("10.0.0.0/8").await, vec!["10.255.255.255", "10.1.2.3"]);
    assert_eq!(
        ips("::/0").await,
        vec!["2001:db8::7", "a00::1", "::ffff:10.1.1.1"]
    );
    assert_eq!(ips("::ffff:0:0/96").await, vec!["::ffff:10.1.1.1"]);
    assert_eq!(ips("0.0.0.0/0").await.len(), 3);
}

#[tokio::test]
async fn concurrent_tasks_on_one_pool_build_one_gap_free_chain() {
    let url = require_mysql!();
    check_concurrent_tasks_build_one_chain(fresh_store(&url, "tasks").await).await;
}

#[tokio::test]
async fn a_store_keeps_the_chain_algorithm_of_its_first_write() {
    let url = require_mysql!();
    check_the_chain_keeps_its_first_algorithm(fresh_store(&url, "algo").await).await;
}

#[tokio::test]
async fn hmac_chain_links_with_the_key() {
    let url = require_mysql!();
    check_hmac_chain_links_with_the_key(fresh_store(&url, "hmac").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_connecting_at_once_migrate_once() {
    let url = require_mysql!();
    let opts = options(&url, "remigrate");
    let connects: Vec<_> = (0..4)
        .map(|_| tokio::spawn(MySqlStore::connect_with(opts.clone())))
        .collect();
    for c in connects {
        c.await.unwrap().unwrap();
    }
    let store = MySqlStore::connect_with(opts).await.unwrap();
    let versions: i64 = query_scalar::<MySql, i64>(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {}",
        table(&store, "schema_migrations")
    )))
    .fetch_one(&mut connect(&url).await)
    .await
    .unwrap();
    assert_eq!(versions, i64::from(audit_sqlx::mysql::SCHEMA_VERSION));
}

#[tokio::test]
async fn connecting_without_migrations_to_an_empty_database_is_a_schema_error() {
    let url = require_mysql!();
    let name = unique_name("nomigrate");
    exec(&url, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let err = MySqlStore::connect_with(
        MySqlOptions::new(&url)
            .database(&name)
            .unwrap()
            .migrate(false),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
}

#[tokio::test]
async fn a_schema_from_a_newer_library_version_is_refused() {
    let url = require_mysql!();
    let opts = options(&url, "newer");
    let store = MySqlStore::connect_with(opts.clone()).await.unwrap();
    exec(
        &url,
        &format!(
            "INSERT INTO {} (version, description, checksum) VALUES (99, 'future', REPEAT(X'00', 32))",
            table(&store, "schema_migrations")
        ),
    )
    .await
    .unwrap();
    let err = MySqlStore::connect_with(opts).await.unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
}

#[tokio::test]
async fn names_that_need_quoting_are_refused() {
    for bad in ["App; DROP", "a`b", ""] {
        assert!(matches!(
            MySqlOptions::new("mysql://x@127.0.0.1/x").database(bad),
            Err(Error::InvalidName { .. })
        ));
    }
    let long = "p".repeat(48);
    assert!(
        MySqlOptions::new("mysql://x@127.0.0.1/x")
            .table_prefix(&long)
            .is_err()
    );
}

#[tokio::test]
async fn retention_removes_an_old_prefix_and_the_rest_still_verifies() {
    let url = require_mysql!();
    check_retention_removes_an_old_prefix(fresh_store(&url, "retention").await).await;
}

#[tokio::test]
async fn retention_stops_at_the_first_event_newer_than_the_cutoff() {
    let url = require_mysql!();
    check_retention_stops_at_the_first_newer_event(fresh_store(&url, "retentionprefix").await)
        .await;
}

#[tokio::test]
async fn the_retention_marker_does_not_leak_into_pooled_connections() {
    let url = require_mysql!();
    let store = store_with(&url, "marker", 3).await;
    store
        .purge_before(chrono::Utc::now() - chrono::Duration::days(365))
        .await
        .unwrap();
    // A new session still refuses deletes (the purge marked only a connection of its own,
    // then closed it).
    let msg = exec(&url, &format!("DELETE FROM {}", table(&store, "events")))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("append-only"), "{msg}");
}

#[tokio::test]
async fn verify_across_fetched_batches_gives_the_same_report_on_every_thread_count() {
    let url = require_mysql!();
    let store = store_with(&url, "verifybatches", ACROSS_BATCHES).await;
    check_verify_across_fetched_batches(
        |p| store.verify_chain_with(VerifyScope::All, None, p),
        |sql| tamper(&url, &store, move |events| sql.replace("{events}", events)),
    )
    .await;
}

#[tokio::test]
async fn verify_reports_a_row_that_no_longer_decodes_as_modified_even_against_a_checkpoint() {
    let url = require_mysql!();
    let store = store_with(&url, "undecodable", 6).await;
    let head = store.head().await.unwrap().unwrap();
    tamper(&url, &store, |events| {
        format!("UPDATE {events} SET category = 'bogus' WHERE seq = 4")
    })
    .await;
    for checkpoint in [None, Some(&head)] {
        let report =
            verify_every_way(&|p| store.verify_chain_with(VerifyScope::All, checkpoint, p)).await;
        let fault = report.fault.expect("tampering detected");
        assert_eq!(
            (fault.seq, fault.kind),
            (4, audit_core::chain::FaultKind::Modified),
            "checkpoint {checkpoint:?}"
        );
    }
}

#[test]
fn the_store_outlives_the_runtimes_that_used_it() {
    let Some(url) = mysql_url() else { return };
    check_store_outlives_the_runtimes_that_used_it(|| async move {
        fresh_store(&url, "runtimes").await
    });
}

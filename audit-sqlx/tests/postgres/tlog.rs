//! The Merkle tree in PostgreSQL: one tree across writers, proofs, signed checkpoints, the
//! schema-3 upgrade, and the tamper matrix (each tampering done by the tables' owner behind
//! the store's back, judged through signed checkpoints; the bodies are shared with MySQL).

use audit_core::AuditStore;
use audit_core::tlog::{Keyring, TransparencyLog, verify_log};
use audit_sqlx::{PgOptions, PgStore};
use sqlx_core::executor::Executor;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::sql_str::AssertSqlSafe;

use crate::common::tlog;
use crate::common::*;

fn keys() -> Keyring {
    tlog::keys()
}

fn signed(options: PgOptions, every: u64) -> PgOptions {
    options.checkpoints(tlog::policy(every))
}

/// A store on a fresh schema signing every 10 events.
async fn signed_store(url: &str, tag: &str) -> PgStore {
    PgStore::connect_with(signed(options(url, tag), 10))
        .await
        .unwrap()
}

async fn exec(store: &PgStore, sql: String) {
    store
        .pool()
        .execute(raw_sql(AssertSqlSafe(sql)))
        .await
        .unwrap();
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_events_and_at_shutdown() {
    let url = require_pg!();
    let store = PgStore::connect_with(signed(options(&url, "cp_every"), 10))
        .await
        .unwrap();
    tlog::check_checkpoints_every_n_events_and_at_shutdown(store).await;
}

#[tokio::test]
async fn proofs_from_postgres_verify_against_its_signed_checkpoint() {
    let url = require_pg!();
    let store = PgStore::connect_with(signed(options(&url, "proofs"), 1000))
        .await
        .unwrap();
    tlog::check_proofs_verify_against_a_signed_checkpoint(store).await;
}

#[tokio::test]
async fn proofs_beyond_the_tree_are_refused() {
    let url = require_pg!();
    let store = PgStore::connect_with(options(&url, "beyond"))
        .await
        .unwrap();
    tlog::check_proofs_beyond_the_tree_are_refused(store).await;
}

#[tokio::test]
async fn writers_on_several_connections_extend_one_tree() {
    let url = require_pg!();
    let options = signed(options(&url, "writers"), 50);
    let a = PgStore::connect_with(options.clone()).await.unwrap();
    let b = PgStore::connect_with(options.clone()).await.unwrap();
    let c = PgStore::connect_with(options).await.unwrap();
    tlog::check_writers_extend_one_tree([a, b, c]).await;
}

#[tokio::test]
async fn a_schema_3_log_gets_its_tree_when_migrated() {
    let url = require_pg!();
    // A schema as version 3 left it (the migration files and their bookkeeping rows),
    // holding events a version-3 store wrote: copied from another schema, with its head.
    let source = fresh_store(&url, "v3_source").await;
    source.append(&events(0..23)).await.unwrap();
    let old = unique_schema("v3");
    let quoted = format!("\"{old}\"");
    let mut setup = format!(
        "CREATE SCHEMA {quoted};
         CREATE TABLE {quoted}.audit_schema_migrations (version integer PRIMARY KEY,
             description text NOT NULL, checksum bytea NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now());"
    );
    for (version, sql) in [
        (1, include_str!("../../migrations/postgres/0001_events.sql")),
        (
            2,
            include_str!("../../migrations/postgres/0002_outbox_rejected.sql"),
        ),
        (
            3,
            include_str!("../../migrations/postgres/0003_rows_within_head.sql"),
        ),
    ] {
        let checksum = audit_core::ChainHasher::sha256()
            .hash_bytes(sql.as_bytes())
            .to_hex();
        setup.push_str(&sql.replace("__SCHEMA__", &quoted));
        setup.push_str(&format!(
            ";\nINSERT INTO {quoted}.audit_schema_migrations (version, description, checksum)
                 VALUES ({version}, 'as version {version} wrote it', decode('{checksum}', 'hex'));"
        ));
    }
    let src = source.schema().as_str().to_owned();
    // The head first: version 3 refuses rows beyond it.
    setup.push_str(&format!(
        "UPDATE {quoted}.audit_chain_head SET (seq, hash, algorithm) =
             (SELECT seq, hash, algorithm FROM \"{src}\".audit_chain_head);
         INSERT INTO {quoted}.audit_events SELECT * FROM \"{src}\".audit_events;"
    ));
    exec(&source, setup).await;
    let store = PgStore::connect_with(signed(PgOptions::new(&url).schema(&old).unwrap(), 10))
        .await
        .unwrap();
    assert_eq!(store.tree_size().await.unwrap(), 23);
    // The same events in the reference store give the same root.
    tlog::assert_same_root_as_memory(&store).await;
    store.append(&events(23..30)).await.unwrap();
    let checkpoint = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(checkpoint.head().size, 30);
    assert!(
        verify_log(&store, &checkpoint, &keys())
            .await
            .unwrap()
            .is_valid()
    );
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn an_untampered_log_verifies_against_its_signed_checkpoint() {
    let url = require_pg!();
    tlog::check_an_untampered_log_verifies_against_its_signed_checkpoint(
        signed_store(&url, "t_intact").await,
    )
    .await;
}

#[tokio::test]
async fn a_modified_event_is_named_at_its_seq() {
    let url = require_pg!();
    tlog::check_a_modified_event_is_named_at_its_seq(signed_store(&url, "t_modify").await).await;
}

#[tokio::test]
async fn a_deleted_event_is_missing_at_its_seq() {
    let url = require_pg!();
    tlog::check_a_deleted_event_is_missing_at_its_seq(signed_store(&url, "t_delete").await).await;
}

#[tokio::test]
async fn an_inserted_event_is_named_where_it_was_put() {
    let url = require_pg!();
    tlog::check_an_inserted_event_is_named_where_it_was_put(signed_store(&url, "t_insert").await)
        .await;
}

#[tokio::test]
async fn reordered_events_are_named_at_the_first_moved_seq() {
    let url = require_pg!();
    tlog::check_reordered_events_are_named_at_the_first_moved_seq(
        signed_store(&url, "t_reorder").await,
    )
    .await;
}

#[tokio::test]
async fn a_truncated_tail_is_named_at_the_first_missing_seq() {
    let url = require_pg!();
    tlog::check_a_truncated_tail_is_named_at_the_first_missing_seq(
        signed_store(&url, "t_truncate").await,
    )
    .await;
}

#[tokio::test]
async fn a_whole_rewrite_without_the_signing_key_is_named_from_seq_1() {
    let url = require_pg!();
    tlog::check_a_whole_rewrite_without_the_signing_key_is_named_from_seq_1(
        signed_store(&url, "t_rewrite").await,
    )
    .await;
}

#[tokio::test]
async fn a_rewrite_after_a_signed_prefix_is_named_after_it() {
    let url = require_pg!();
    tlog::check_a_rewrite_after_a_signed_prefix_is_named_after_it(
        signed_store(&url, "t_rewrite20").await,
    )
    .await;
}

#[tokio::test]
async fn a_rollback_to_an_older_state_is_truncated_after_it() {
    let url = require_pg!();
    tlog::check_a_rollback_to_an_older_state_is_truncated_after_it(
        signed_store(&url, "t_rollback").await,
    )
    .await;
}

#[tokio::test]
async fn a_rollback_that_grew_again_under_the_real_key_is_a_fork() {
    let url = require_pg!();
    tlog::check_a_rollback_that_grew_again_under_the_real_key_is_a_fork(
        signed_store(&url, "t_fork").await,
    )
    .await;
}

#[tokio::test]
async fn a_rewritten_tree_row_is_reported_even_when_events_are_intact() {
    let url = require_pg!();
    tlog::check_a_rewritten_tree_row_is_reported_even_when_events_are_intact(
        signed_store(&url, "t_treerow").await,
    )
    .await;
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_refused() {
    let url = require_pg!();
    tlog::check_a_checkpoint_signed_by_another_key_is_refused(
        signed_store(&url, "t_otherkey").await,
    )
    .await;
}

#[tokio::test]
async fn an_archive_verifies_against_the_checkpoints_that_covered_it() {
    let url = require_pg!();
    tlog::check_an_archive_verifies_against_the_checkpoints_that_covered_it(
        signed_store(&url, "t_archive").await,
    )
    .await;
}

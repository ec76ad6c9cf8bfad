//! The Merkle tree in PostgreSQL: one tree across writers, proofs, signed checkpoints, the
//! schema-1 upgrade, and tampering behind the store's back judged through checkpoints.

use audit_core::AuditStore;
use audit_core::tlog::{Keyring, SignedCheckpoint, TransparencyLog, TreeFaultKind, verify_log};
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

/// A signed log of 30 events (checkpoints at 10, 20, 30), the auditor's copy of the newest,
/// and the store's schema with its append-only triggers disabled (as its owner can).
async fn thirty(url: &str, tag: &str) -> (PgStore, SignedCheckpoint) {
    let store = PgStore::connect_with(signed(options(url, tag), 10))
        .await
        .unwrap();
    for chunk in events(0..30).chunks(10) {
        store.append(chunk).await.unwrap();
    }
    let held = store.latest_checkpoint().await.unwrap().unwrap();
    let s = store.schema().as_str().to_owned();
    exec(
        &store,
        format!(
            "ALTER TABLE \"{s}\".audit_events DISABLE TRIGGER USER;
         ALTER TABLE \"{s}\".audit_tree DISABLE TRIGGER USER;"
        ),
    )
    .await;
    (store, held)
}

async fn fault_of(store: &PgStore, held: &SignedCheckpoint) -> (u64, TreeFaultKind) {
    let fault = verify_log(store, held, &keys())
        .await
        .unwrap()
        .fault
        .expect("a fault");
    (fault.seq, fault.kind)
}

#[tokio::test]
async fn a_modified_event_in_postgres_is_named_at_its_seq() {
    let url = require_pg!();
    let (store, held) = thirty(&url, "t_modify").await;
    let s = store.schema().as_str().to_owned();
    exec(
        &store,
        format!("UPDATE \"{s}\".audit_events SET actor_id = 'mallory' WHERE seq = 14"),
    )
    .await;
    assert_eq!(fault_of(&store, &held).await, (14, TreeFaultKind::Modified));
}

#[tokio::test]
async fn a_truncated_postgres_log_is_named_at_the_first_missing_seq() {
    let url = require_pg!();
    let (store, held) = thirty(&url, "t_truncate").await;
    let s = store.schema().as_str().to_owned();
    exec(&store, format!(
        "DELETE FROM \"{s}\".audit_events WHERE seq > 26; DELETE FROM \"{s}\".audit_tree WHERE seq > 26;
         UPDATE \"{s}\".audit_chain_head SET seq = 26"
    ))
    .await;
    assert_eq!(
        fault_of(&store, &held).await,
        (27, TreeFaultKind::Truncated)
    );
}

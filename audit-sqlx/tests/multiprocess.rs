//! Several OS processes append to one schema at once; the result is one gap-free chain with
//! exactly every event, which the store's verifier accepts.
//!
//! The parent test re-executes this test binary once per writer, selecting
//! `child_writer` with `AUDIT_SQLX_CHILD_SCHEMA` set; without that variable `child_writer`
//! does nothing.
#![cfg(feature = "postgres")]

mod common;

use audit_sqlx::{PgOptions, PgStore};
use common::*;

#[tokio::test]
async fn child_writer() {
    let Ok(schema) = std::env::var("AUDIT_SQLX_CHILD_SCHEMA") else {
        return; // Only meaningful when spawned by the parent test.
    };
    let url = std::env::var("DATABASE_URL").expect("the parent passes DATABASE_URL");
    let store = PgStore::connect_with(PgOptions::new(url).schema(&schema).unwrap())
        .await
        .expect("child connects");
    let writer = child_writer_id();
    for b in 0..WRITER_BATCHES {
        store
            .append(&writer_batch(writer, b))
            .await
            .expect("child append");
    }
}

#[tokio::test]
async fn processes_writing_at_once_build_one_gap_free_valid_chain() {
    let url = require_pg!();
    let store = fresh_store(&url, "multiproc").await;
    run_writer_processes(
        "child_writer",
        &[
            ("DATABASE_URL", &url),
            ("AUDIT_SQLX_CHILD_SCHEMA", store.schema().as_str()),
        ],
    );
    assert_every_writer_in_one_chain(&store).await;
}

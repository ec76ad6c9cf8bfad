//! Several OS processes append to one database at once; the result is one gap-free chain with
//! exactly every event, which the store's verifier accepts.
//!
//! The parent test re-executes this test binary once per writer, selecting `child_writer`
//! with `AUDIT_SQLX_MYSQL_CHILD_DB` set; without that variable `child_writer` does nothing.

use audit_sqlx::{MySqlOptions, MySqlStore};

use crate::common::*;

#[tokio::test]
async fn child_writer() {
    let Ok(database) = std::env::var("AUDIT_SQLX_MYSQL_CHILD_DB") else {
        return; // Only meaningful when spawned by the parent test.
    };
    let url = std::env::var("MYSQL_URL").expect("the parent passes MYSQL_URL");
    let store = MySqlStore::connect_with(MySqlOptions::new(url).database(&database).unwrap())
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
    let url = require_mysql!();
    let store = fresh_store(&url, "multiproc").await;
    run_writer_processes(
        "multiprocess::child_writer",
        &[
            ("MYSQL_URL", &url),
            (
                "AUDIT_SQLX_MYSQL_CHILD_DB",
                store.database().expect("own database"),
            ),
        ],
    );
    assert_every_writer_in_one_chain(&store).await;
}

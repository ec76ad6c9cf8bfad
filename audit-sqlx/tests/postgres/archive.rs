//! PostgreSQL archival: the prefix goes to a backend-neutral archive file that verifies
//! alone, is removed through the retention path, and the live log records the file's hash
//! (the checks are shared with MySQL, in `support`).

use crate::common::*;

#[tokio::test]
async fn archive_moves_the_old_prefix_to_a_file_that_verifies_alone() {
    let url = require_pg!();
    check_archive_moves_the_old_prefix_to_a_file_that_verifies_alone(
        fresh_store(&url, "archive").await,
    )
    .await;
}

#[tokio::test]
async fn archive_records_an_event_with_the_files_sha256() {
    let url = require_pg!();
    check_archive_records_an_event_with_the_files_sha256(fresh_store(&url, "archive").await).await;
}

#[tokio::test]
async fn a_second_archive_starts_from_the_first_ones_anchor() {
    let url = require_pg!();
    check_a_second_archive_starts_from_the_first_ones_anchor(fresh_store(&url, "archive").await)
        .await;
}

#[tokio::test]
async fn nothing_older_than_the_cutoff_writes_no_file() {
    let url = require_pg!();
    check_nothing_older_than_the_cutoff_writes_no_file(fresh_store(&url, "archive").await).await;
}

#[tokio::test]
async fn a_broken_chain_is_not_archived_and_nothing_is_deleted() {
    let url = require_pg!();
    check_a_broken_chain_is_not_archived_and_nothing_is_deleted(fresh_store(&url, "archive").await)
        .await;
}

#[tokio::test]
async fn an_existing_file_is_not_overwritten() {
    let url = require_pg!();
    check_an_existing_file_is_not_overwritten(fresh_store(&url, "archive").await).await;
}

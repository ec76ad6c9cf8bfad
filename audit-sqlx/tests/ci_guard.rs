//! PostgreSQL tests never pass silently without a server: outside CI they skip with a loud
//! message, and with `CI` set they fail.
//!
//! Each check re-executes this test binary to run `probe` in a controlled environment.
#![cfg(feature = "postgres")]

mod common;

use common::*;

#[tokio::test]
async fn probe() {
    if !is_probe() {
        return; // Only meaningful when spawned by the checks below.
    }
    let _url = require_pg!();
}

#[test]
fn missing_database_url_fails_when_ci_is_set() {
    assert_probe_fails_under_ci("probe", "DATABASE_URL");
}

#[test]
fn missing_database_url_skips_loudly_outside_ci() {
    assert_probe_skips_loudly("probe", "DATABASE_URL");
}

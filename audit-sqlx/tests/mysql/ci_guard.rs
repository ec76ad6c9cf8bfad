//! MySQL tests never pass silently without a server: outside CI they skip with a loud
//! message, and with `CI` set they fail.
//!
//! Each check re-executes this test binary to run `probe` in a controlled environment.

use crate::common::*;

const PROBE: &str = "ci_guard::probe";

#[tokio::test]
async fn probe() {
    if !is_probe() {
        return; // Only meaningful when spawned by the checks below.
    }
    let _url = require_mysql!();
}

#[test]
fn missing_mysql_url_fails_when_ci_is_set() {
    assert_probe_fails_under_ci(PROBE, "MYSQL_URL");
}

#[test]
fn missing_mysql_url_skips_loudly_outside_ci() {
    assert_probe_skips_loudly(PROBE, "MYSQL_URL");
}

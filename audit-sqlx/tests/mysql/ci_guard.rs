//! MySQL tests never pass silently without a server: outside CI they skip with a loud
//! message, and with `CI` set they fail.
//!
//! Each check re-executes this test binary to run `probe` in a controlled environment.

use std::process::{Command, Output};

use crate::common::*;

#[tokio::test]
async fn probe() {
    if std::env::var_os("AUDIT_SQLX_MYSQL_PROBE").is_none() {
        return; // Only meaningful when spawned by the checks below.
    }
    let _url = require_mysql!();
}

fn run_probe(ci: bool) -> Output {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([
        "ci_guard::probe",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("AUDIT_SQLX_MYSQL_PROBE", "1")
    .env_remove("MYSQL_URL")
    .env_remove("CI");
    if ci {
        cmd.env("CI", "true");
    }
    cmd.output().expect("run the probe")
}

#[test]
fn missing_mysql_url_fails_when_ci_is_set() {
    let out = run_probe(true);
    assert!(
        !out.status.success(),
        "the probe passed without a server under CI"
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("MYSQL_URL is not set and CI is"), "{text}");
}

#[test]
fn missing_mysql_url_skips_loudly_outside_ci() {
    let out = run_probe(false);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SKIPPED"));
}

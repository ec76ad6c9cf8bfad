//! An export stopped part-way never leaves a file under its name: the real binary, killed
//! while it writes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{sqlite_url, sqlite_with};
use audit_core::ChainHasher;

/// Enough events that an export runs well past the moment the signal is sent.
const EVENTS: u64 = 40_000;

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Starts `audit export` into `out_dir` and waits until its temporary file exists.
fn start_export(url: &str, format: &str, out_dir: &Path) -> Child {
    let child = Command::new(assert_cmd::cargo::cargo_bin("audit"))
        .args(["--db", url, "export", "--format", format, "--out"])
        .arg(out_dir.join(format!("report.{format}")))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !entries(out_dir).iter().any(|n| n.ends_with(".partial")) {
        assert!(
            Instant::now() < deadline,
            "the export never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

async fn store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let (_store, path) = sqlite_with(dir.path(), EVENTS, ChainHasher::sha256()).await;
    let url = sqlite_url(&path);
    (dir, url)
}

#[tokio::test]
async fn ctrl_c_during_an_export_leaves_no_file_and_exits_130() {
    let (_db, url) = store().await;
    for format in ["pdf", "xlsx", "csv"] {
        let out = tempfile::tempdir().unwrap();
        let child = start_export(&url, format, out.path());
        signal(&child, "INT");
        let result = child.wait_with_output().unwrap();
        assert_eq!(
            result.status.code(),
            Some(130),
            "{format}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(String::from_utf8_lossy(&result.stderr).contains("interrupted"));
        assert_eq!(entries(out.path()), Vec::<String>::new(), "{format}");
    }
}

#[tokio::test]
async fn sigterm_during_an_export_leaves_no_file() {
    let (_db, url) = store().await;
    let out = tempfile::tempdir().unwrap();
    let child = start_export(&url, "pdf", out.path());
    signal(&child, "TERM");
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(130));
    assert_eq!(entries(out.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_killed_export_never_leaves_a_file_under_the_final_name() {
    let (_db, url) = store().await;
    let out = tempfile::tempdir().unwrap();
    let mut child = start_export(&url, "pdf", out.path());
    signal(&child, "KILL");
    child.wait().unwrap();
    // SIGKILL allows no clean-up: at most the hidden temporary file stays.
    let left = entries(out.path());
    assert!(!left.iter().any(|n| n == "report.pdf"), "{left:?}");
    assert!(
        left.iter()
            .all(|n| n.starts_with(".report.pdf.") && n.ends_with(".partial")),
        "{left:?}"
    );
}

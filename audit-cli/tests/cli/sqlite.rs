//! The real `audit` binary against a real SQLite file: every command, its output and its
//! exit status.

use crate::common::*;
use audit_core::query::AuditQuery;
use audit_core::{AuditStore, Category, ChainHasher, Outcome};

async fn fresh(n: u64) -> (tempfile::TempDir, audit_sqlite::SqliteStore, String) {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_with(dir.path(), n, ChainHasher::sha256()).await;
    let url = sqlite_url(&path);
    (dir, store, url)
}

#[tokio::test]
async fn query_json_gives_one_parsable_event_per_line_newest_first() {
    let (_dir, store, url) = fresh(30).await;
    let out = audit()
        .args(["--db", &url, "query", "--json", "-n", "5"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(seqs(&lines), [30, 29, 28, 27, 26]);
    let stored = store.get(30).await.unwrap().unwrap();
    let back: audit_core::StoredEvent = serde_json::from_value(lines[0].clone()).unwrap();
    assert_eq!(back, stored);
}

#[tokio::test]
async fn every_query_filter_returns_what_the_library_matches() {
    let (_dir, store, url) = fresh(120).await;
    let reference = all(&store, AuditQuery::new()).await;
    let since = (epoch() + chrono::Duration::hours(20)).to_rfc3339();
    let until = (epoch() + chrono::Duration::hours(70)).to_rfc3339();
    let cases: Vec<(Vec<&str>, AuditQuery)> = vec![
        (vec!["--actor", "bob"], AuditQuery::new().actor("bob")),
        (
            vec!["--action", "AUTHZ_FAIL"],
            AuditQuery::new().action("AUTHZ_FAIL"),
        ),
        (
            vec!["--action-prefix", "AUTH"],
            AuditQuery::new().action_prefix("AUTH"),
        ),
        (
            vec!["--category", "authentication"],
            AuditQuery::new().category(Category::Authentication),
        ),
        (
            vec!["--outcome", "denied"],
            AuditQuery::new().outcome(Outcome::Denied),
        ),
        (
            vec!["--entity-type", "booking"],
            AuditQuery::new().entity_type("booking"),
        ),
        (
            vec!["--entity-id", "b-4"],
            AuditQuery::new().entity_id("b-4"),
        ),
        (
            vec!["--since", &since],
            AuditQuery::new().since(epoch() + chrono::Duration::hours(20)),
        ),
        (
            vec!["--until", &until],
            AuditQuery::new().until(epoch() + chrono::Duration::hours(70)),
        ),
        (
            vec!["--ip", "10.1.0.0/16"],
            AuditQuery::new().ip_in("10.1.0.0/16".parse().unwrap()),
        ),
        (
            vec!["--ip", "10.2.0.3"],
            AuditQuery::new().ip_in("10.2.0.3/32".parse().unwrap()),
        ),
        (
            vec!["--request-id", "r-3"],
            AuditQuery::new().request_id("r-3"),
        ),
        (
            vec!["--tenant", "globex"],
            AuditQuery::new().tenant("globex"),
        ),
        (
            vec!["--contains", "by carol"],
            AuditQuery::new().description_contains("by carol"),
        ),
        (
            vec![
                "--actor",
                "alice",
                "--outcome",
                "failure",
                "--since",
                "2026-05-04",
            ],
            AuditQuery::new()
                .actor("alice")
                .outcome(Outcome::Failure)
                .since(epoch() - chrono::Duration::hours(9)),
        ),
    ];
    for (flags, query) in cases {
        let want: Vec<u64> = reference
            .iter()
            .filter(|r| query.matches(r))
            .map(|r| r.seq)
            .rev()
            .collect();
        assert!(!want.is_empty(), "{flags:?} matches something");
        let out = audit()
            .args(["--db", &url, "query", "--json", "-n", "1000"])
            .args(&flags)
            .output()
            .unwrap();
        assert!(out.status.success(), "{flags:?}: {}", stderr(&out));
        assert_eq!(seqs(&json_lines(&out)), want, "{flags:?}");
    }
}

#[tokio::test]
async fn query_pages_through_the_store_past_one_page() {
    let (_dir, _store, url) = fresh(2300).await;
    let out = audit()
        .args([
            "--db",
            &url,
            "query",
            "--json",
            "-n",
            "2200",
            "--oldest-first",
        ])
        .output()
        .unwrap();
    let got = seqs(&json_lines(&out));
    assert_eq!(got, (1..=2200).collect::<Vec<u64>>());
}

#[tokio::test]
async fn query_prints_a_cursor_that_continues_where_it_stopped() {
    let (_dir, _store, url) = fresh(12).await;
    let out = audit()
        .args(["--db", &url, "query", "--json", "-n", "5"])
        .output()
        .unwrap();
    let err = stderr(&out);
    let cursor = err
        .split("--after ")
        .nth(1)
        .expect("a cursor on stderr")
        .trim();
    let next = audit()
        .args([
            "--db", &url, "query", "--json", "-n", "5", "--after", cursor,
        ])
        .output()
        .unwrap();
    assert_eq!(seqs(&json_lines(&next)), [7, 6, 5, 4, 3]);
}

#[tokio::test]
async fn query_for_people_is_a_table_with_a_header() {
    let (_dir, _store, url) = fresh(8).await;
    let out = audit()
        .args(["--db", &url, "query", "--actor", "carol"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("seq") && text.contains("action") && text.contains("outcome"),
        "{text}"
    );
    assert!(text.contains("event 6 by carol"), "{text}");
    assert!(!text.contains("by bob"), "{text}");
}

#[tokio::test]
async fn tail_prints_the_newest_events_oldest_first() {
    let (_dir, _store, url) = fresh(40).await;
    let out = audit()
        .args(["--db", &url, "tail", "-n", "3", "--json"])
        .output()
        .unwrap();
    assert_eq!(seqs(&json_lines(&out)), [38, 39, 40]);
    let people = audit()
        .args(["--db", &url, "tail", "-n", "2"])
        .output()
        .unwrap();
    let lines: Vec<String> = stdout(&people).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains("event 39 by dave"), "{lines:?}");
}

#[tokio::test]
async fn tail_follow_prints_events_written_after_it_started() {
    use std::io::{BufRead, BufReader};
    let (_dir, store, url) = fresh(3).await;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("audit"))
        .args([
            "--db",
            &url,
            "tail",
            "-n",
            "1",
            "--follow",
            "--interval-ms",
            "100",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["seq"], 3);
    store.append(&[event(100), event(101)]).await.unwrap();
    let next: Vec<u64> = (0..2)
        .map(|_| {
            serde_json::from_str::<serde_json::Value>(&lines.next().unwrap().unwrap()).unwrap()
                    ["seq"]
                    .as_u64()
                    .unwrap()
        })
        .collect();
    assert_eq!(next, [4, 5]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn stats_json_counts_match_the_store() {
    let (_dir, store, url) = fresh(60).await;
    let out = audit()
        .args(["--db", &url, "stats", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stats: serde_json::Value = json(&out);
    assert_eq!(stats["total"], 60);
    let by_action = |code: &str| {
        stats["action"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == code)
            .unwrap()["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        by_action("AUTHZ_FAIL"),
        store
            .count(&AuditQuery::new().action("AUTHZ_FAIL"))
            .await
            .unwrap()
    );
    let outcomes: Vec<(String, u64)> = stats["outcome"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("success".into(), 40),
            ("failure".into(), 10),
            ("denied".into(), 10)
        ]
    );
    assert_eq!(
        stats["day"].as_array().unwrap().len(),
        3,
        "60 hours from 09:00 span three days"
    );
    assert_eq!(stats["actor"].as_array().unwrap().len(), 4);
    let people = audit()
        .args(["--db", &url, "stats", "--by", "actor"])
        .output()
        .unwrap();
    assert!(stdout(&people).contains("by actor:"), "{}", stdout(&people));
}

#[tokio::test]
async fn export_csv_and_jsonl_hold_every_matching_event() {
    let (dir, store, url) = fresh(1500).await;
    let csv = dir.path().join("out.csv");
    let out = audit()
        .args(["--db", &url, "export", "--format", "csv", "--out"])
        .arg(&csv)
        .args(["--actor", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let alice = all(&store, AuditQuery::new().actor("alice")).await;
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let got: Vec<u64> = reader
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect();
    assert_eq!(got, alice.iter().map(|r| r.seq).collect::<Vec<_>>());
    let to_stdout = audit()
        .args(["--db", &url, "export", "--format", "jsonl"])
        .output()
        .unwrap();
    let lines = json_lines(&to_stdout);
    assert_eq!(lines.len(), 1500);
    assert_eq!(seqs(&lines)[..3], [1, 2, 3]);
}

#[tokio::test]
async fn export_xlsx_is_a_workbook_of_the_matching_events() {
    use calamine::{Reader, Xlsx, open_workbook};
    let (dir, store, url) = fresh(300).await;
    let path = dir.path().join("report.xlsx");
    let out = audit()
        .args(["--db", &url, "export", "-F", "xlsx", "-o"])
        .arg(&path)
        .args(["--outcome", "denied"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut book: Xlsx<_> = open_workbook(&path).unwrap();
    assert_eq!(book.sheet_names(), ["Summary", "Events", "Verification"]);
    let events = book.worksheet_range("Events").unwrap();
    let denied = store
        .count(&AuditQuery::new().outcome(Outcome::Denied))
        .await
        .unwrap();
    assert_eq!(events.height() as u64, denied + 1);
    assert!(
        stderr(&out).contains(&format!("wrote {denied} events")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn export_pdf_is_a_report_with_the_totals() {
    let (dir, _store, url) = fresh(200).await;
    let path = dir.path().join("report.pdf");
    let out = audit()
        .args([
            "--db",
            &url,
            "export",
            "--format",
            "pdf",
            "--title",
            "May report",
            "--out",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (scripts/tools.sh installs it)");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("May report"), "{text:.500}");
    assert!(
        text.contains("Chain valid from seq 1 to 200"),
        "{text:.1500}"
    );
}

#[tokio::test]
async fn an_existing_output_file_is_kept_unless_forced() {
    let (dir, _store, url) = fresh(5).await;
    let taken = dir.path().join("taken.csv");
    std::fs::write(&taken, "keep me").unwrap();
    let out = audit()
        .args(["--db", &url, "export", "--format", "csv", "--out"])
        .arg(&taken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me");
    let forced = audit()
        .args([
            "--db", &url, "export", "--format", "csv", "--force", "--out",
        ])
        .arg(&taken)
        .output()
        .unwrap();
    assert!(forced.status.success());
    assert!(std::fs::read_to_string(&taken).unwrap().starts_with("seq,"));
}

#[tokio::test]
async fn verify_of_an_intact_chain_exits_zero() {
    let (_dir, _store, url) = fresh(50).await;
    let out = audit()
        .args(["--db", &url, "verify", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = json(&out);
    assert_eq!(report["valid"], true);
    assert_eq!(report["checked"], 50);
    assert_eq!(report["head"]["seq"], 50);
}

#[tokio::test]
async fn verify_of_a_tampered_file_exits_one_naming_the_seq_and_kind() {
    let (_dir, _store, url) = fresh(50).await;
    let path = url.trim_start_matches("sqlite:").to_owned();
    sqlite_tamper(
        path.as_ref(),
        "UPDATE audit_events SET entity_id = 'forged' WHERE seq = 17;",
    );
    let out = audit().args(["--db", &url, "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("chain fault at seq 17: modified"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("FAULT at seq 17"), "{}", stdout(&out));
    let as_json = audit()
        .args(["--db", &url, "verify", "--json"])
        .output()
        .unwrap();
    assert_eq!(as_json.status.code(), Some(1));
    let report: serde_json::Value = json(&as_json);
    assert_eq!(report["fault"]["seq"], 17);
    assert_eq!(report["fault"]["kind"], "modified");
}

#[tokio::test]
async fn verify_of_a_range_checks_only_that_range() {
    let (_dir, _store, url) = fresh(50).await;
    let path = url.trim_start_matches("sqlite:").to_owned();
    sqlite_tamper(
        path.as_ref(),
        "UPDATE audit_events SET entity_id = 'forged' WHERE seq = 40;",
    );
    let early = audit()
        .args([
            "--db", &url, "verify", "--from", "5", "--to", "30", "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(early.status.code(), Some(0), "{}", stderr(&early));
    let report: serde_json::Value = json(&early);
    assert_eq!(report["checked"], 26);
    let late = audit()
        .args(["--db", &url, "verify", "--from", "35", "--to", "45"])
        .output()
        .unwrap();
    assert_eq!(late.status.code(), Some(1));
}

#[tokio::test]
async fn verify_against_a_checkpoint_detects_a_truncated_tail() {
    let (dir, _store, url) = fresh(30).await;
    let head = dir.path().join("head.json");
    let saved = audit()
        .args(["--db", &url, "checkpoint", "--out"])
        .arg(&head)
        .output()
        .unwrap();
    assert!(saved.status.success(), "{}", stderr(&saved));
    let cp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&head).unwrap()).unwrap();
    assert_eq!(cp["seq"], 30);
    let ok = audit()
        .args(["--db", &url, "verify", "--checkpoint"])
        .arg(&head)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let path = url.trim_start_matches("sqlite:").to_owned();
    sqlite_tamper(path.as_ref(), "DELETE FROM audit_events WHERE seq > 27;");
    let cut = audit()
        .args(["--db", &url, "verify", "--checkpoint"])
        .arg(&head)
        .output()
        .unwrap();
    assert_eq!(cut.status.code(), Some(1));
    assert!(
        stderr(&cut).contains("seq 30: truncated"),
        "{}",
        stderr(&cut)
    );
}

#[tokio::test]
async fn checkpoint_prints_the_head_as_json() {
    let (_dir, store, url) = fresh(9).await;
    let out = audit().args(["--db", &url, "checkpoint"]).output().unwrap();
    let cp: audit_core::chain::Checkpoint = json(&out);
    let head = store.head().await.unwrap().unwrap();
    assert_eq!((cp.seq, cp.hash), (head.seq, head.hash));
}

#[tokio::test]
async fn archive_then_verify_archive_and_the_live_chain() {
    let (dir, _store, url) = fresh(48).await;
    let to = dir.path().join("archives");
    let before = (epoch() + chrono::Duration::hours(24)).to_rfc3339();
    let out = audit()
        .args([
            "--db", &url, "archive", "--json", "--before", &before, "--to",
        ])
        .arg(&to)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = json(&out);
    assert_eq!(
        (report["from_seq"].as_u64(), report["to_seq"].as_u64()),
        (Some(1), Some(24))
    );
    let file = report["path"].as_str().unwrap().to_owned();
    let checked = audit()
        .args(["verify-archive", "--json", &file])
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
    let v: serde_json::Value = json(&checked);
    assert_eq!(v["checked"], 24);
    assert_eq!(v["sha256"], report["sha256"]);
    let live = audit().args(["--db", &url, "verify"]).output().unwrap();
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
    // An edited archive fails on its own, naming the seq.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("event 5 by bob", "event 5 by eve", 1)).unwrap();
    let edited = audit().args(["verify-archive", &file]).output().unwrap();
    assert_eq!(edited.status.code(), Some(1));
    assert!(
        stderr(&edited).contains("archive fault at seq 6: modified"),
        "{}",
        stderr(&edited)
    );
}

#[tokio::test]
async fn archive_of_nothing_writes_no_file() {
    let (dir, _store, url) = fresh(5).await;
    let to = dir.path().join("archives");
    let out = audit()
        .args(["--db", &url, "archive", "--before", "2020-01-01", "--to"])
        .arg(&to)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("no archive written"));
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 0);
}

#[tokio::test]
async fn a_keyed_store_needs_its_key_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, path) = sqlite_with(dir.path(), 10, ChainHasher::hmac_sha256(b"s3cret")).await;
    let url = sqlite_url(&path);
    let key = dir.path().join("key");
    std::fs::write(&key, "s3cret\n").unwrap();
    let with_file = audit()
        .args(["--db", &url, "--key-file"])
        .arg(&key)
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(with_file.status.code(), Some(0), "{}", stderr(&with_file));
    let with_env = audit()
        .env("AUDIT_HMAC_KEY", "s3cret")
        .args(["--db", &url, "verify"])
        .output()
        .unwrap();
    assert_eq!(with_env.status.code(), Some(0), "{}", stderr(&with_env));
    let without = audit().args(["--db", &url, "verify"]).output().unwrap();
    assert_eq!(without.status.code(), Some(3));
    assert!(
        stderr(&without).contains("wrong key"),
        "{}",
        stderr(&without)
    );
    let wrong = audit()
        .env("AUDIT_HMAC_KEY", "guess")
        .args(["--db", &url, "query"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3));
    let err = stderr(&wrong);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("wrong key") && !err.contains("guess"), "{err}");
}

#[tokio::test]
async fn a_schema_newer_than_the_tool_is_a_clear_error() {
    let (_dir, store, url) = fresh(3).await;
    drop(store);
    let path = url.trim_start_matches("sqlite:").to_owned();
    sqlite_tamper(
        path.as_ref(),
        "UPDATE audit_meta SET value = '999' WHERE key = 'schema_version';",
    );
    let out = audit().args(["--db", &url, "query"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("999") && err.contains("newer"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_missing_file_a_bad_url_and_a_foreign_file_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = audit()
        .args(["--db", "sqlite:/nonexistent/audit.db", "query"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        stderr(&missing).contains("does not exist"),
        "{}",
        stderr(&missing)
    );
    let bad = audit()
        .args(["--db", "mongodb://root:pw@localhost/db", "query"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unsupported store URL") && !stderr(&bad).contains(":pw@"),
        "{}",
        stderr(&bad)
    );
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let foreign = audit()
        .arg("--db")
        .arg(format!("sqlite:{}", junk.display()))
        .arg("stats")
        .output()
        .unwrap();
    assert_eq!(foreign.status.code(), Some(3));
    assert!(
        stderr(&foreign).contains("not an SQLite database"),
        "{}",
        stderr(&foreign)
    );
    for out in [missing, bad, foreign] {
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn usage_errors_exit_two_and_help_has_examples() {
    let out = audit()
        .args(["query", "--outcome", "maybe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = audit().arg("--help").output().unwrap();
    assert!(stdout(&help).contains("Examples:") && stdout(&help).contains("audit verify"));
    let no_db = audit().arg("stats").output().unwrap();
    assert_eq!(no_db.status.code(), Some(2));
    assert!(stderr(&no_db).contains("AUDIT_DATABASE_URL"));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = audit().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let script = stdout(&out);
        assert!(script.contains("verify-archive"), "{shell}");
    }
}

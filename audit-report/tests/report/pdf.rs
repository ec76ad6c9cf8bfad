//! The PDF report read back with Debian's poppler-utils: its text with `pdftotext`, its
//! fonts with `pdffonts`, and every page rendered with `pdftoppm` (`scripts/tools.sh`
//! installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{HOSTILE, filled, report, tamper};
use audit_core::AuditQuery;
use audit_report::ReportError;
use audit_report::pdf::PdfOptions;
use audit_report::pdf::font::FontFiles;

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is missing: run `bash scripts/tools.sh` (installs Debian's poppler-utils)"
    );
    Command::new(name)
}

/// Fails the test with the tool's stderr when it did not succeed.
fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn write_pdf(
    store: &audit_sqlite::SqliteStore,
    query: AuditQuery,
) -> (tempfile::TempDir, PathBuf, u64) {
    let report = report(store, query).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    let file = std::fs::File::create(&path).unwrap();
    let (_, rows) = audit_report::pdf::write(store, &report, file, &PdfOptions::default(), &())
        .await
        .unwrap();
    (dir, path, rows)
}

fn text(path: &Path) -> String {
    let out = tool("pdftotext")
        .arg("-layout")
        .arg(path)
        .arg("-")
        .output()
        .unwrap();
    succeeded(&out);
    String::from_utf8(out.stdout).unwrap()
}

fn pages(path: &Path) -> usize {
    let out = tool("pdfinfo").arg(path).output().unwrap();
    let info = String::from_utf8(out.stdout).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo prints the page count")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_text_carries_the_totals_the_statement_and_sample_rows() {
    let (store, _db) = filled(400).await;
    let (_dir, path, rows) = write_pdf(&store, AuditQuery::new()).await;
    assert_eq!(rows, 400);
    let text = text(&path);
    assert!(text.contains("400 events"), "{text:.2000}");
    assert!(text.contains("Chain valid from seq 1 to 400 (400 records verified)."));
    assert!(text.contains("Failed logins — 40"));
    assert!(text.contains("Denials — 40"));
    assert!(text.contains("Alerts — 20"));
    let head = audit_core::AuditStore::get(&store, 400)
        .await
        .unwrap()
        .unwrap();
    assert!(
        text.contains(&head.hash.to_hex()),
        "the head hash is printed"
    );
    // A sample of rows, by seq and content.
    for seq in [1u64, 137, 400] {
        let record = audit_core::AuditStore::get(&store, seq)
            .await
            .unwrap()
            .unwrap();
        let line = text
            .lines()
            .find(|l| {
                l.trim_start().starts_with(&format!("{seq} ")) && l.contains(&*record.event.action)
            })
            .unwrap_or_else(|| panic!("no listing line for seq {seq}"));
        assert!(line.contains(record.event.outcome.as_str()), "{line}");
    }
    for hostile in HOSTILE {
        assert!(text.contains(hostile), "{hostile:?} printed as it is");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listing_runs_over_as_many_pages_as_it_takes_and_each_renders() {
    let (store, _db) = filled(2500).await;
    let (dir, path, _) = write_pdf(&store, AuditQuery::new()).await;
    let n = pages(&path);
    assert!(n > 2500 / 50, "{n} pages for 2500 rows");
    let text = text(&path);
    assert!(
        text.contains(&format!("page {n}")),
        "the last page is numbered"
    );
    let last = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("2500 "))
        .is_some();
    assert!(last, "the last event is listed");
    let out = tool("pdftoppm")
        .args(["-r", "20", "-png"])
        .arg(&path)
        .arg(dir.path().join("page"))
        .output()
        .unwrap();
    succeeded(&out);
    let rendered = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".png")
        })
        .count();
    assert_eq!(rendered, n);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_font_is_embedded_as_a_subset() {
    let (store, _db) = filled(20).await;
    let (_dir, path, _) = write_pdf(&store, AuditQuery::new()).await;
    let out = tool("pdffonts").arg(&path).output().unwrap();
    let fonts = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "regular and bold: {fonts}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        // name type... encoding emb sub uni
        let n = cols.len();
        assert_eq!(&cols[n - 5..n - 2], ["yes", "yes", "yes"], "{row}");
        assert!(cols[0].contains('+'), "a subset tag: {row}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_are_printed_and_only_matching_events_listed() {
    let (store, _db) = filled(200).await;
    let (_dir, path, rows) = write_pdf(&store, AuditQuery::new().actor("bob")).await;
    let bob = audit_core::AuditStore::count(&store, &AuditQuery::new().actor("bob"))
        .await
        .unwrap();
    assert_eq!(rows, bob);
    let text = text(&path);
    assert!(
        text.lines()
            .any(|l| l.contains("actor") && l.contains("bob")),
        "filter shown"
    );
    assert!(text.contains(&format!("{bob} events, oldest first")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_range_prints_the_fault_with_its_seq() {
    let (store, db) = filled(30).await;
    tamper(db.path(), 12);
    let (_dir, path, _) = write_pdf(&store, AuditQuery::new()).await;
    let text = text(&path);
    assert!(
        text.contains("CHAIN FAULT at seq 12: modified"),
        "{text:.1500}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_result_still_makes_a_report() {
    let (store, _db) = filled(10).await;
    let (_dir, path, rows) = write_pdf(&store, AuditQuery::new().actor("nobody")).await;
    assert_eq!(rows, 0);
    let text = text(&path);
    assert!(text.contains("No events matched"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_font_is_a_clear_error() {
    let (store, _db) = filled(3).await;
    let report = report(&store, AuditQuery::new()).await;
    let options = PdfOptions {
        fonts: Some(FontFiles {
            regular: "/nonexistent/DejaVuSans.ttf".into(),
            bold: "/nonexistent/DejaVuSans-Bold.ttf".into(),
        }),
    };
    let err = audit_report::pdf::write(&store, &report, Vec::new(), &options, &())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReportError::Font(m) if m.contains("/nonexistent/DejaVuSans.ttf")),
        "{err}"
    );
}

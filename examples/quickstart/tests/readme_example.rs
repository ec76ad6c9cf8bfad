//! The README's first example is exactly this package's `main.rs`, and running it stores the
//! event it promises.
// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use audit::{AuditQuery, AuditStore, Outcome};

/// The first ```rust block of the project README.
fn readme_first_rust_block() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let start = text.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_owned()
}

#[test]
fn the_readme_shows_exactly_the_quickstart_program() {
    let main =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    // The file's leading `//!` lines say what it is; the README shows the program itself.
    let program: String = main
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(readme_first_rust_block(), program);
}

#[test]
fn the_readme_example_stores_the_booking_when_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");

    let store = audit::SqliteStore::open(dir.path().join("audit.db")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let page = rt.block_on(store.query(&AuditQuery::new())).unwrap();
    let [stored] = page.events.as_slice() else {
        panic!("expected one event, got {:?}", page.events);
    };
    assert_eq!(stored.event.action, "FTMS_BOOKING_CREATED");
    assert_eq!(stored.event.outcome, Outcome::Success);
    assert_eq!(stored.event.entity_type.as_deref(), Some("booking"));
    assert_eq!(stored.event.entity_id.as_deref(), Some("b-alice-2"));
    assert!(stored.event.metadata.get("duration_us").is_some());
    let report = rt.block_on(store.verify(Default::default(), None)).unwrap();
    assert!(report.is_valid(), "{report:?}");
}

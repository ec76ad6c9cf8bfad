//! `audit export` and `audit verify` at scale, each beside what it is measured against.
//!
//! A plain `main` (no criterion: one run of a million events takes seconds, and peak memory
//! is a figure criterion does not give). Every line runs in its own process, so each peak
//! RSS belongs to it alone (`VmHWM` from `/proc/PID/status`, polled every millisecond while
//! the process runs):
//!
//! - `rust_xlsxwriter` floor: this binary re-run as a child that writes the same rows (same
//!   21 columns, types and formats, constant-memory sheet) straight from the generator that
//!   filled the store, with no store and no library in between;
//! - `audit export --format xlsx` of the same events (the real binary: store reads, report
//!   model, summary and verification sheets included);
//! - `audit export --format csv` of the same events;
//! - `audit export --format pdf` of the first 100 000 events, beside the CSV export of those;
//! - `audit verify` of the whole store, beside `SqliteStore::verify` called in this process.
//!
//! The store (a SQLite file filled from the generator) is kept in `target/bench-data` and
//! reused. `AUDIT_BENCH_EXPORT_EVENTS` (default 1 000 000) and `AUDIT_BENCH_PDF_EVENTS`
//! (default 100 000) set the sizes. Run with `cargo bench -p audit-cli --bench export`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use audit_core::chain::{ChainHash, ChainHasher};
use audit_core::export::CSV_COLUMNS;
use audit_core::{Actor, AuditEvent, AuditStore, Category, StoredEvent};
use audit_sqlite::SqliteStore;
use chrono::{DateTime, TimeZone, Utc};
use rust_xlsxwriter::{Format, Workbook};

const CHILD_ENV: &str = "AUDIT_BENCH_EXPORT_FLOOR";

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid time")
}

/// Event `i`: a second apart, realistic field sizes.
fn event(i: u64) -> AuditEvent {
    let actor = format!("user-{}", i % 997);
    let b = match i % 10 {
        0 => AuditEvent::builder("AUTHN_LOGIN_FAIL")
            .category(Category::Authentication)
            .actor(Actor::anonymous(actor))
            .failure("invalid user name or password"),
        1 => AuditEvent::builder("AUTHZ_FAIL")
            .category(Category::Authorization)
            .actor(Actor::user(actor))
            .denied("missing permission booking:delete"),
        _ => AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user(actor))
            .entity("booking", format!("b-{i}"))
            .description(format!("booking {i} created for customer {}", i % 5000))
            .metadata_entry("seats", (i % 5) as i64),
    };
    b.occurred_at(epoch() + chrono::Duration::seconds(i as i64))
        .ip(format!("10.{}.{}.{}", i % 200, i % 250, i % 199 + 1)
            .parse()
            .expect("an address"))
        .request_id(format!("req-{i:012}"))
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) bench")
        .build()
}

/// The stored form of events `0..n` (ids differ from the store's: the floor only needs the
/// same shape of rows).
fn records(n: u64) -> impl Iterator<Item = StoredEvent> {
    let hasher = ChainHasher::sha256();
    let mut prev = ChainHash::ZERO;
    (0..n).map(move |i| {
        let event = event(i);
        let hash = hasher.hash(&prev, &event);
        let record = StoredEvent {
            seq: i + 1,
            prev_hash: prev,
            hash,
            event,
        };
        prev = hash;
        record
    })
}

/// The floor: the same rows written by rust_xlsxwriter directly, in this process.
fn floor_xlsx(n: u64, out: &Path) {
    let mut workbook = Workbook::new();
    let header = Format::new().set_bold();
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss.000");
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .expect("a temporary file");
    for (col, name) in CSV_COLUMNS.iter().enumerate() {
        sheet
            .write_string_with_format(0, col as u16, *name, &header)
            .expect("header");
    }
    for r in records(n) {
        let row = r.seq as u32;
        let e = &r.event;
        let cell = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
        sheet.write_number(row, 0, r.seq as f64).expect("cell");
        sheet.write_string(row, 1, e.id.to_string()).expect("cell");
        sheet
            .write_datetime_with_format(row, 2, e.occurred_at.naive_utc(), &datetime)
            .expect("cell");
        let texts = [
            (3, Some(e.action.to_string())),
            (4, Some(e.category.as_str().to_owned())),
            (5, Some(e.outcome.as_str().to_owned())),
            (6, cell(e.reason.as_deref())),
            (7, e.actor.as_ref().map(|a| a.kind.as_str().to_owned())),
            (8, e.actor.as_ref().map(|a| a.id.clone())),
            (9, e.entity_type.as_ref().map(|t| t.to_string())),
            (10, cell(e.entity_id.as_deref())),
            (11, cell(e.description.as_deref())),
            (12, e.ip.map(|ip| ip.to_string())),
            (13, cell(e.user_agent.as_deref())),
            (14, cell(e.request_id.as_deref())),
            (15, cell(e.session_id.as_deref())),
            (16, cell(e.tenant.as_deref())),
            (17, Some(e.severity.as_str().to_owned())),
            (18, Some(e.metadata.to_string())),
            (19, Some(r.prev_hash.to_hex())),
            (20, Some(r.hash.to_hex())),
        ];
        for (col, text) in texts {
            if let Some(text) = text {
                sheet.write_string(row, col, text).expect("cell");
            }
        }
    }
    sheet
        .autofilter(0, 0, n as u32, (CSV_COLUMNS.len() - 1) as u16)
        .expect("autofilter");
    workbook.save(out).expect("save");
}

/// Fills (once) and returns the store of `n` events.
fn store(n: u64, runtime: &tokio::runtime::Runtime) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench data dir");
    let path = dir.join(format!("export-{n}-v1.db"));
    let ready = dir.join(format!("export-{n}-v1.ready"));
    if ready.exists() {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    eprintln!("filling {} with {n} events (once)", path.display());
    runtime.block_on(async {
        let store = SqliteStore::open(&path).expect("open the bench store");
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..n {
            batch.push(event(i));
            if batch.len() == 10_000 {
                store.append(&batch).await.expect("append");
                batch.clear();
            }
        }
        if !batch.is_empty() {
            store.append(&batch).await.expect("append");
        }
        store.checkpoint_wal().await.expect("checkpoint");
    });
    std::fs::write(&ready, b"").expect("marker");
    path
}

struct Run {
    seconds: f64,
    peak_mib: f64,
}

/// Runs `command`, polling its peak RSS.
fn measure(mut command: Command) -> Run {
    let start = Instant::now();
    let mut child = command.spawn().expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_path).ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let seconds = start.elapsed().as_secs_f64();
    assert!(status.success(), "{command:?} failed: {status}");
    Run {
        seconds,
        peak_mib: peak_kib as f64 / 1024.0,
    }
}

fn audit(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_audit"));
    command
        .env_remove("AUDIT_HMAC_KEY")
        .env_remove("AUDIT_KEY_FILE")
        .arg("--db")
        .arg(format!("sqlite:{}", db.display()))
        .args(args);
    command
}

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn line(what: &str, n: u64, run: &Run, beside: Option<(&str, &Run)>) {
    let rate = n as f64 / run.seconds;
    let ratio = beside
        .map(|(name, b)| format!("{:.2} of {name}", rate / (n as f64 / b.seconds)))
        .unwrap_or_default();
    let peak = if run.peak_mib > 0.0 {
        format!("{:.1} MiB", run.peak_mib)
    } else {
        "–".into()
    };
    println!(
        "| {what} | {n} | {:.2} s | {:.0} events/s | {peak} | {ratio} |",
        run.seconds, rate
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (n, out) = spec.split_once(':').expect("N:PATH");
        floor_xlsx(n.parse().expect("a count"), Path::new(out));
        return;
    }
    let n = env_count("AUDIT_BENCH_EXPORT_EVENTS", 1_000_000);
    let n_pdf = env_count("AUDIT_BENCH_PDF_EVENTS", 100_000).min(n);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = store(n, &runtime);
    let out = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| out.path().join(name).display().to_string();
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    println!("load average before: {}", load());
    println!("| what | events | time | rate | peak RSS | ratio |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");

    let mut floor = Command::new(std::env::current_exe().expect("this binary"));
    floor.env(CHILD_ENV, format!("{n}:{}", file("floor.xlsx")));
    let floor = measure(floor);
    line("rust_xlsxwriter direct (floor)", n, &floor, None);
    let xlsx = measure(audit(&db, &["export", "-F", "xlsx", "-o", &file("a.xlsx")]));
    line(
        "audit export --format xlsx",
        n,
        &xlsx,
        Some(("the floor", &floor)),
    );
    let csv = measure(audit(&db, &["export", "-F", "csv", "-o", &file("a.csv")]));
    line("audit export --format csv", n, &csv, None);

    let until = (epoch() + chrono::Duration::seconds(n_pdf as i64)).to_rfc3339();
    let pdf = measure(audit(
        &db,
        &[
            "export",
            "-F",
            "pdf",
            "--until",
            &until,
            "-o",
            &file("a.pdf"),
        ],
    ));
    let csv_pdf = measure(audit(
        &db,
        &[
            "export",
            "-F",
            "csv",
            "--until",
            &until,
            "-o",
            &file("b.csv"),
        ],
    ));
    line(
        "audit export --format pdf",
        n_pdf,
        &pdf,
        Some(("csv", &csv_pdf)),
    );
    line(
        "audit export --format csv (same events)",
        n_pdf,
        &csv_pdf,
        None,
    );

    let library = runtime.block_on(async {
        let store = SqliteStore::open(&db).expect("open");
        let start = Instant::now();
        let report = store
            .verify(Default::default(), None)
            .await
            .expect("verify");
        assert!(report.is_valid());
        start.elapsed().as_secs_f64()
    });
    let verify = measure(audit(&db, &["verify"]));
    let library_run = Run {
        seconds: library,
        peak_mib: 0.0,
    };
    line("SqliteStore::verify (in process)", n, &library_run, None);
    line(
        "audit verify",
        n,
        &verify,
        Some(("the library", &library_run)),
    );
    println!("load average after: {}", load());
}

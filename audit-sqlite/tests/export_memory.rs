//! Exporting a million rows keeps memory bounded.
//!
//! Alone in its binary, so the peak-RSS reading sees only this export. Rows are generated
//! inside SQLite (the export does not verify the chain). `AUDIT_SQLITE_EXPORT_ROWS` sets
//! the count: 1 000 000 by default in release builds, 300 000 in debug builds (unoptimised
//! SQLite makes a million rows take minutes there; 300 000 rows are still ~130 MiB of
//! output, three times the bound).

mod common;

use std::io::Write;

use audit_core::AuditQuery;
use audit_core::export::ExportFormat;
use common::{db_path, events, fresh_store, raw};

/// Counts bytes and drops them.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `/proc/self/status` field in KiB (Linux).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_a_million_rows_keeps_peak_memory_bounded() {
    let rows: i64 = std::env::var("AUDIT_SQLITE_EXPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            300_000
        } else {
            1_000_000
        });
    let (store, dir) = fresh_store();
    store
        .append(&events(1, "FTMS_BOOKING_CREATED"))
        .await
        .unwrap();
    raw(&db_path(&dir))
        .execute(
            "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO audit_events
                 SELECT i, randomblob(16), occurred_at + i, action, category, outcome, reason,
                        actor_kind, actor_id, entity_type, 'b-' || i, description, ip,
                        user_agent, request_id, session_id, tenant, severity, metadata,
                        prev_hash, hash
                 FROM n, audit_events WHERE seq = 1",
            [rows],
        )
        .unwrap();

    let baseline = status_kib("VmRSS:").unwrap_or(0);
    // Reset the peak so it measures the export only (Linux; ignored elsewhere).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (count, sink) = store
        .export(AuditQuery::new(), ExportFormat::JsonLines, CountingSink(0))
        .await
        .unwrap();
    let peak = status_kib("VmHWM:").unwrap_or(0);

    assert_eq!(count, rows as u64);
    let growth_mib = peak.saturating_sub(baseline) / 1024;
    let output_mib = sink.0 / (1024 * 1024);
    eprintln!(
        "exported {count} rows, {output_mib} MiB of JSON Lines; peak RSS grew {growth_mib} MiB"
    );
    // The reader's page cache (16 MiB) plus buffers, far below the output size: an export
    // that buffered its output would grow by at least the output.
    const BOUND_MIB: u64 = 40;
    assert!(
        output_mib > 2 * BOUND_MIB || rows < 300_000,
        "the output ({output_mib} MiB) should dwarf the bound"
    );
    assert!(growth_mib < BOUND_MIB, "peak RSS grew {growth_mib} MiB");
}

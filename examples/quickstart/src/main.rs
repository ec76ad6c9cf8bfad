//! Quickstart: record audit events from plain synchronous code into a JSON Lines file, then
//! print what was written and the pipeline's metrics.
//!
//! ```text
//! cargo run -p quickstart
//! ```

use std::error::Error;

use audit_core::sinks::{FsyncPolicy, JsonLinesSink};
use audit_core::{Actor, AuditContext, AuditEvent, Auditor, Category, Severity};

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::temp_dir().join(format!("audit-quickstart-{}.jsonl", std::process::id()));
    let sink = JsonLinesSink::open(&path)?.fsync(FsyncPolicy::EveryBatch);

    // One auditor per process; the guard drains it when `main` returns.
    let auditor = Auditor::builder(sink).build()?;
    let guard = auditor.guard();
    audit_core::set_global(auditor.clone());

    // Who is acting, set once for the unit of work; every event inside picks it up.
    let ctx = AuditContext::new()
        .actor(Actor::user("alice"))
        .ip("203.0.113.7".parse()?)
        .request_id("req-42");
    ctx.sync_scope(|| {
        audit_core::record(
            AuditEvent::builder("USER_LOGIN")
                .category(Category::Authentication)
                .metadata_entry("method", "password")
                // Sensitive keys are redacted before the sink sees them.
                .metadata_entry("password", "hunter2")
                .build(),
        );
        audit_core::record(
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .entity("booking", "b-1001")
                .description("booked 2 seats on FT-12")
                .metadata_entry("seats", 2)
                .build(),
        );
        // Invalid events never fail the caller: an AUDIT_EVENT_INVALID event replaces them.
        audit_core::record(AuditEvent::builder("drop table;").build());
    });

    // When the caller must know the event is stored, wait for the receipt.
    let receipt = auditor.record_durable_blocking(
        AuditEvent::builder("REPORT_EXPORTED")
            .actor(Actor::service("nightly-export"))
            .severity(Severity::Notice)
            .build(),
    )?;
    println!("durable receipt: event {}", receipt.id);

    auditor.flush_blocking()?;
    println!("\n{} now holds:", path.display());
    print!("{}", std::fs::read_to_string(&path)?);

    drop(guard);
    println!("\nmetrics: {:#?}", auditor.metrics());
    std::fs::remove_file(&path)?;
    Ok(())
}

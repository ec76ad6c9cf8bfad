//! The dashboard's own audit trail: who watches the watchers.
//!
//! Every page view and every export is recorded through [`audit_core::record`] under the
//! request's [`AuditContext`](audit_core::AuditContext) (the viewer as actor, the client IP
//! and request id from the host's layer), with the filter that was used. Recording never
//! fails the page: a problem is reported by the pipeline.

use audit_core::{AuditEvent, Category, Severity};
use serde_json::{Value, json};

/// The action codes the dashboard records.
pub mod codes {
    /// A page of the log was viewed (`metadata.page`, `metadata.filter`).
    pub const AUDIT_LOG_VIEWED: &str = "AUDIT_LOG_VIEWED";
    /// The log, or a filtered part of it, was exported (`metadata.format`,
    /// `metadata.filter`, `metadata.rows`, `metadata.complete`).
    pub const AUDIT_LOG_EXPORTED: &str = "AUDIT_LOG_EXPORTED";
    /// A verification of the chain finished (`metadata.result`: range, rows checked, the
    /// first bad seq and fault kind when it failed).
    pub const AUDIT_CHAIN_VERIFIED: &str = "AUDIT_CHAIN_VERIFIED";
}

/// A view of `page` with the filter (or other parameters) it showed.
pub(crate) fn viewed(page: &'static str, filter: Value) {
    audit_core::record(
        AuditEvent::builder(codes::AUDIT_LOG_VIEWED)
            .category(Category::System)
            .entity("audit_log", page)
            .description(format!("audit log {page} viewed"))
            .metadata(json!({ "page": page, "filter": filter }))
            .build(),
    );
}

/// A view of one event.
pub(crate) fn viewed_event(seq: u64) {
    audit_core::record(
        AuditEvent::builder(codes::AUDIT_LOG_VIEWED)
            .category(Category::System)
            .entity("audit_event", seq.to_string())
            .description(format!("audit event {seq} viewed"))
            .metadata(json!({ "page": "event", "seq": seq }))
            .build(),
    );
}

/// An export that ended: `complete` is false when the client went away or the store failed
/// before the last row.
pub(crate) fn exported(format: &str, filter: Value, rows: u64, complete: bool) {
    let mut builder = AuditEvent::builder(codes::AUDIT_LOG_EXPORTED)
        .category(Category::System)
        .severity(Severity::Notice)
        .entity("audit_log", "export")
        .description(format!("audit log exported as {format}: {rows} rows"))
        .metadata(json!({
            "format": format,
            "filter": filter,
            "rows": rows,
            "complete": complete,
        }));
    if !complete {
        builder = builder.failure("export ended before the last row");
    }
    audit_core::record(builder.build());
}

/// A verification that ended, with its result as the verify page shows it.
pub(crate) fn verified(valid: bool, summary: &str, result: Value) {
    let mut builder = AuditEvent::builder(codes::AUDIT_CHAIN_VERIFIED)
        .category(Category::System)
        .severity(if valid {
            Severity::Notice
        } else {
            Severity::Critical
        })
        .entity("audit_log", "chain")
        .description(format!("audit chain verification: {summary}"))
        .metadata(json!({ "result": result }));
    if !valid {
        builder = builder.failure(summary);
    }
    audit_core::record(builder.build());
}

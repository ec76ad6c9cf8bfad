//! `audit verify --tenant T --checkpoint FILE --key PUB`: one tenant's events, each by its
//! inclusion proof against the signed checkpoint, reading no other tenant's events.

use std::io::Write;
use std::path::Path;

use audit_core::store::VerifyScope;
use audit_core::tenant::TenantScope;
use audit_core::tlog::verify_tenant;
use serde_json::json;

use crate::commands::print_json;
use crate::commands::tlog_files::{fault_kind, read_keyring, read_signed_checkpoint, tree_fault};
use crate::error::{CliError, Exit};
use crate::output::{self, ERROR, GOOD};
use crate::target::Target;

pub async fn run(
    tenant: &str,
    checkpoint: &Path,
    key: &Path,
    as_json: bool,
    target: &Target,
) -> Result<Exit, CliError> {
    let keys = read_keyring(key)?;
    let checkpoint = read_signed_checkpoint(checkpoint)?;
    let view = target.shared_log().for_tenant(tenant);
    let spinner = output::spinner(0, "verifying");
    let report = verify_tenant(&view, VerifyScope::All, &checkpoint, &keys).await?;
    spinner.finish_and_clear();
    let faults = || {
        report
            .faults
            .iter()
            .map(|f| json!({ "seq": f.seq, "kind": fault_kind(f), "detail": f.detail }))
    };
    if as_json {
        print_json(&json!({
            "valid": report.is_valid(),
            "tenant": report.tenant,
            "checked": report.checked,
            "from_seq": report.from_seq,
            "to_seq": report.to_seq,
            "checkpoint": report.head,
            "origin": checkpoint.origin(),
            "faults": faults().collect::<Vec<_>>(),
            "unlisted_faults": report.unlisted_faults,
        }))?;
    } else {
        let mut out = anstream::stdout().lock();
        match (&report.head, report.faults.is_empty()) {
            (Some(head), true) => writeln!(
                out,
                "{GOOD}valid{GOOD:#}: the {} events of tenant {tenant:?} (seq {}..={}) are in the \
                 signed log of {} events, root {}",
                report.checked, report.from_seq, report.to_seq, head.size, head.root
            )?,
            _ => {
                for f in &report.faults {
                    writeln!(
                        out,
                        "{ERROR}FAULT{ERROR:#} at seq {}: {} ({})",
                        f.seq,
                        fault_kind(f),
                        f.detail
                    )?;
                }
                if report.unlisted_faults > 0 {
                    writeln!(out, "... and {} more", report.unlisted_faults)?;
                }
            }
        }
        out.flush()?;
    }
    match report.fault() {
        None => Ok(Exit::Ok),
        Some(fault) => Err(tree_fault(&format!("tenant {tenant:?}"), fault)),
    }
}

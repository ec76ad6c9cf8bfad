//! `audit verify`: the whole chain, a seq range, or against a saved checkpoint.

use std::io::{IsTerminal, Write};

use audit_core::chain::{Checkpoint, VerifyReport};
use audit_core::query::AuditQuery;
use audit_core::store::VerifyScope;
use audit_report::fault_name;
use serde_json::json;

use crate::cli::VerifyArgs;
use crate::commands::print_json;
use crate::error::{CliError, Exit, one_line};
use crate::output::{self, GOOD};
use crate::target::Target;

/// Reads a checkpoint written by `audit checkpoint --out` (or any JSON `{seq, hash, taken_at}`).
pub fn read_checkpoint(path: &std::path::Path) -> Result<Checkpoint, CliError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        CliError::failure(format!(
            "cannot read the checkpoint {}: {err}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|err| {
        CliError::failure(format!(
            "{} is not a checkpoint: {}",
            path.display(),
            one_line(&err)
        ))
    })
}

pub async fn run(args: VerifyArgs, target: &Target) -> Result<Exit, CliError> {
    let store = target.store();
    let checkpoint = args
        .checkpoint
        .as_deref()
        .map(read_checkpoint)
        .transpose()?;
    let scope = match (args.from, args.to) {
        (Some(from), Some(to)) => VerifyScope::Range { from, to },
        _ => VerifyScope::All,
    };
    let total = if std::io::stderr().is_terminal() {
        store.count(&AuditQuery::new()).await?
    } else {
        0
    };
    let spinner = output::spinner(total, "verifying");
    let report = store.verify(scope, checkpoint.as_ref()).await?;
    spinner.finish_and_clear();
    print(&report, args.json, target)?;
    match &report.fault {
        None => Ok(Exit::Ok),
        Some(fault) => Err(CliError::fault(format!(
            "chain fault at seq {}: {}: {}",
            fault.seq,
            fault_name(fault.kind),
            fault.detail
        ))),
    }
}

fn print(report: &VerifyReport, as_json: bool, target: &Target) -> Result<(), CliError> {
    if as_json {
        return print_json(&json!({
            "valid": report.is_valid(),
            "checked": report.checked,
            "head": report.head,
            "fault": report.fault.as_ref().map(|f| json!({
                "seq": f.seq,
                "kind": fault_name(f.kind),
                "detail": f.detail,
            })),
            "algorithm": target.hasher().algorithm().as_str(),
        }));
    }
    let mut out = anstream::stdout().lock();
    match (&report.fault, &report.head) {
        (None, Some(head)) => writeln!(
            out,
            "{GOOD}valid{GOOD:#}: {} records verified ({}), head seq {} hash {}",
            report.checked,
            target.hasher().algorithm().as_str(),
            head.seq,
            head.hash
        )?,
        (None, None) => writeln!(out, "{GOOD}valid{GOOD:#}: no records to verify")?,
        (Some(fault), _) => writeln!(
            out,
            "{}FAULT{:#} at seq {}: {} ({} records verified before it)",
            output::ERROR,
            output::ERROR,
            fault.seq,
            fault_name(fault.kind),
            report.checked
        )?,
    }
    out.flush()?;
    Ok(())
}

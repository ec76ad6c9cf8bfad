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
    if let (Some(tenant), Some(path), Some(key)) = (&args.tenant, &args.checkpoint, &args.key) {
        return super::verify_tenant::run(tenant, path, key, args.json, target).await;
    }
    if let (Some(path), Some(key)) = (&args.checkpoint, &args.key) {
        return run_signed(path, key, args.json, target).await;
    }
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

/// `verify --checkpoint FILE --key PUB`: the hash chain, then the log against the signed
/// checkpoint's Merkle tree (truncation, rewrites, rollbacks, forks).
async fn run_signed(
    path: &std::path::Path,
    key: &std::path::Path,
    as_json: bool,
    target: &Target,
) -> Result<Exit, CliError> {
    use crate::commands::tlog_files::{
        fault_kind, read_keyring, read_signed_checkpoint, tree_fault,
    };
    let keys = read_keyring(key)?;
    let checkpoint = read_signed_checkpoint(path)?;
    let spinner = output::spinner(0, "verifying");
    let chain = target.store().verify(VerifyScope::All, None).await?;
    let tree = audit_core::tlog::verify_log(target.log(), &checkpoint, &keys).await?;
    spinner.finish_and_clear();
    if as_json {
        print_json(&json!({
            "valid": chain.is_valid() && tree.is_valid(),
            "checked": chain.checked,
            "checkpoint": tree.head,
            "origin": checkpoint.origin(),
            "chain_fault": chain.fault.as_ref().map(|f| json!({
                "seq": f.seq, "kind": fault_name(f.kind), "detail": f.detail,
            })),
            "tree_fault": tree.fault.as_ref().map(|f| json!({
                "seq": f.seq, "kind": fault_kind(f), "detail": f.detail,
            })),
        }))?;
    } else {
        let mut out = anstream::stdout().lock();
        match (&chain.fault, &tree.fault, &tree.head) {
            (None, None, Some(head)) => writeln!(
                out,
                "{GOOD}valid{GOOD:#}: {} records verified; the log holds exactly the {} events \
                 checkpoint {} vouches for (root {})",
                chain.checked,
                head.size,
                checkpoint.origin(),
                head.root
            )?,
            (Some(f), _, _) => writeln!(
                out,
                "{}FAULT{:#} at seq {}: {} (chain)",
                output::ERROR,
                output::ERROR,
                f.seq,
                fault_name(f.kind)
            )?,
            (None, Some(f), _) => writeln!(
                out,
                "{}FAULT{:#} at seq {}: {} (against the signed checkpoint)",
                output::ERROR,
                output::ERROR,
                f.seq,
                fault_kind(f)
            )?,
            (None, None, None) => {}
        }
        out.flush()?;
    }
    if let Some(fault) = &chain.fault {
        return Err(CliError::fault(format!(
            "chain fault at seq {}: {}: {}",
            fault.seq,
            fault_name(fault.kind),
            fault.detail
        )));
    }
    match &tree.fault {
        None => Ok(Exit::Ok),
        Some(fault) => Err(tree_fault("tree", fault)),
    }
}

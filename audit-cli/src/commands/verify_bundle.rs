//! `audit verify-bundle FILE --key PUB`: a bundle verifies offline, with no database.

use std::io::{BufReader, Write};

use audit_core::tlog::bundle::verify_bundle;
use serde_json::json;

use crate::cli::VerifyBundleArgs;
use crate::commands::print_json;
use crate::commands::tlog_files::{fault_kind, read_keyring, tree_fault};
use crate::error::{CliError, Exit};
use crate::output::{ERROR, GOOD};

pub fn run(args: VerifyBundleArgs) -> Result<Exit, CliError> {
    let keys = read_keyring(&args.key)?;
    let file = std::fs::File::open(&args.file)
        .map_err(|err| CliError::failure(format!("cannot read {}: {err}", args.file.display())))?;
    let report = verify_bundle(BufReader::new(file), &keys)?;
    let range = report.header.as_ref().map(|h| (h.from_seq, h.to_seq));
    let tenant = report.header.as_ref().and_then(|h| h.tenant.as_deref());
    if args.json {
        print_json(&json!({
            "valid": report.is_valid(),
            "tenant": tenant,
            "records": report.records,
            "from_seq": range.map(|r| r.0),
            "to_seq": range.map(|r| r.1),
            "checkpoint": report.head,
            "fault": report.fault.as_ref().map(|f| json!({
                "seq": f.seq, "kind": fault_kind(f), "detail": f.detail,
            })),
        }))?;
    } else {
        let mut out = anstream::stdout().lock();
        match (&report.fault, &report.head, range) {
            (None, Some(head), Some((from, to))) => writeln!(
                out,
                "{GOOD}valid{GOOD:#}: {} records{} (seq {from}..={to}) are in the signed log of {} events, root {}",
                report.records,
                tenant.map_or_else(String::new, |t| format!(" of tenant {t:?}")),
                head.size,
                head.root
            )?,
            (Some(f), _, _) => writeln!(
                out,
                "{ERROR}FAULT{ERROR:#} at seq {}: {} ({})",
                f.seq,
                fault_kind(f),
                f.detail
            )?,
            _ => writeln!(out, "{ERROR}FAULT{ERROR:#}: the bundle could not be read")?,
        }
        out.flush()?;
    }
    match &report.fault {
        None => Ok(Exit::Ok),
        Some(fault) => Err(tree_fault("bundle", fault)),
    }
}

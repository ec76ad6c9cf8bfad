//! `audit verify-archive FILE`: an archive verifies on its own, without the store.

use std::io::Write;

use audit_core::archive::{ArchiveError, verify_archive};
use audit_report::fault_name;
use serde_json::json;

use crate::cli::{Global, VerifyArchiveArgs};
use crate::commands::print_json;
use crate::error::{CliError, Exit, one_line};
use crate::key;
use crate::output::{ERROR, GOOD};

pub fn run(args: VerifyArchiveArgs, global: &Global) -> Result<Exit, CliError> {
    let hasher = key::hasher(global.key_file.as_deref())?;
    let checked = verify_archive(&args.file, &hasher).map_err(|err| match err {
        ArchiveError::Io(io) => {
            CliError::failure(format!("cannot read {}: {io}", args.file.display()))
        }
        ArchiveError::HasherMismatch { .. } => CliError::failure(format!(
            "wrong key for {}: {}",
            args.file.display(),
            one_line(&err)
        )),
        other => CliError::failure(format!("{}: {}", args.file.display(), one_line(&other))),
    })?;
    let report = &checked.report;
    if args.json {
        print_json(&json!({
            "valid": report.is_valid(),
            "checked": report.checked,
            "sha256": checked.sha256,
            "format": checked.header.format,
            "from_seq": checked.header.anchor.seq + 1,
            "to_seq": checked.header.last.seq,
            "fault": report.fault.as_ref().map(|f| json!({
                "seq": f.seq, "kind": fault_name(f.kind), "detail": f.detail,
            })),
        }))?;
    } else {
        let mut out = anstream::stdout().lock();
        match &report.fault {
            None => writeln!(
                out,
                "{GOOD}valid{GOOD:#}: {} records (seq {}..={}), sha256 {}",
                report.checked,
                checked.header.anchor.seq + 1,
                checked.header.last.seq,
                checked.sha256
            )?,
            Some(f) => writeln!(
                out,
                "{ERROR}FAULT{ERROR:#} at seq {}: {} (sha256 {})",
                f.seq,
                fault_name(f.kind),
                checked.sha256
            )?,
        }
        out.flush()?;
    }
    match &report.fault {
        None => Ok(Exit::Ok),
        Some(f) => Err(CliError::fault(format!(
            "archive fault at seq {}: {}: {}",
            f.seq,
            fault_name(f.kind),
            f.detail
        ))),
    }
}

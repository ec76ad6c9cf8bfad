//! `audit archive --before DATE --to DIR`: the library's archival, for either backend.

use audit_core::query::AuditQuery;
use std::io::IsTerminal;

use crate::cli::ArchiveArgs;
use crate::commands::print_json;
use crate::error::{CliError, Exit};
use crate::output;
use crate::target::Target;

pub async fn run(args: ArchiveArgs, target: &Target) -> Result<Exit, CliError> {
    std::fs::create_dir_all(&args.to)
        .map_err(|err| CliError::failure(format!("cannot create {}: {err}", args.to.display())))?;
    let name = format!(
        "audit-archive-before-{}-{}.jsonl",
        args.before.format("%Y%m%dT%H%M%SZ"),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    );
    let path = args.to.join(name);
    let total = if std::io::stderr().is_terminal() {
        target
            .store()
            .count(&AuditQuery::new().until(args.before))
            .await?
    } else {
        0
    };
    let spinner = output::spinner(total, "archiving up to");
    let report = target.archive(args.before, &path).await?;
    spinner.finish_and_clear();
    if args.json {
        print_json(&serde_json::json!({
            "count": report.count,
            "from_seq": report.from_seq,
            "to_seq": report.to_seq,
            "path": (report.count > 0).then(|| report.path.display().to_string()),
            "sha256": (report.count > 0).then_some(report.sha256.as_str()),
            "event_seq": report.event_seq,
        }))?;
    } else if report.count == 0 {
        println!(
            "nothing before {}: no archive written",
            args.before.to_rfc3339()
        );
    } else {
        println!(
            "archived {} events (seq {}..={}) to {}\nsha256 {}\nrecorded as AUDIT_ARCHIVED at seq {}",
            report.count,
            report.from_seq,
            report.to_seq,
            report.path.display(),
            report.sha256,
            report
                .event_seq
                .map_or_else(|| "?".to_owned(), |s| s.to_string())
        );
    }
    Ok(Exit::Ok)
}

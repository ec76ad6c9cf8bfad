//! `audit bundle`: events with the signed checkpoint and their proof, in one file.

use std::io::BufWriter;

use audit_core::tlog::bundle::write_bundle;

use crate::cli::BundleArgs;
use crate::commands::tlog_files::checkpoint_or_latest;
use crate::error::{CliError, Exit};
use crate::outfile::OutFile;
use crate::output;
use crate::target::Target;

pub async fn run(args: BundleArgs, target: &Target) -> Result<Exit, CliError> {
    let log = target.log();
    let checkpoint = checkpoint_or_latest(args.checkpoint.as_deref(), log).await?;
    let to = args.to.unwrap_or(checkpoint.head().size);
    let out = OutFile::create(Some(&args.out), args.force, false, false)?;
    let file = out
        .handle()?
        .ok_or_else(|| CliError::failure("no output file for the bundle"))?;
    let summary = write_bundle(log, args.from, to, &checkpoint, BufWriter::new(file)).await?;
    out.commit()?;
    output::note(&format!(
        "{} records (seq {}..={}) bundled against the checkpoint of {} events: {}",
        summary.records,
        args.from,
        to,
        checkpoint.head().size,
        args.out.display()
    ));
    Ok(Exit::Ok)
}

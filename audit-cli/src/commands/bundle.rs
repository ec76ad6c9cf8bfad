//! `audit bundle`: events with the signed checkpoint and their proof, in one file; with
//! `--tenant`, one tenant's events only, each with its own inclusion proof.

use std::io::BufWriter;

use audit_core::tenant::TenantScope;
use audit_core::tlog::bundle::{write_bundle, write_tenant_bundle};

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
    let file = BufWriter::new(file);
    let summary = match &args.tenant {
        None => write_bundle(log, args.from, to, &checkpoint, file).await?,
        Some(tenant) => {
            let view = target.shared_log().for_tenant(tenant.clone());
            write_tenant_bundle(&view, args.from, to, &checkpoint, file).await?
        }
    };
    out.commit()?;
    let whose = match &args.tenant {
        Some(tenant) => format!(" of tenant {tenant:?}"),
        None => String::new(),
    };
    output::note(&format!(
        "{} records{whose} (seq {}..={}) bundled against the checkpoint of {} events: {}",
        summary.records,
        args.from,
        to,
        checkpoint.head().size,
        args.out.display()
    ));
    Ok(Exit::Ok)
}

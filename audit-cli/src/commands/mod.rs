//! One module per command; each takes its arguments and the opened store.

mod archive;
mod bundle;
mod checkpoint;
mod completions;
mod export;
mod keygen;
mod prove;
mod query;
mod serve;
mod stats;
mod tail;
mod tlog_files;
mod verify;
mod verify_archive;
mod verify_bundle;
mod verify_tenant;

use std::io::Write;

use serde::Serialize;

use crate::cli::{Cli, Command, Global};
use crate::error::{CliError, Exit};
use crate::interrupt;
use crate::key;
use crate::target::Target;

/// Runs the command line's command.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    let Cli { global, command } = cli;
    match command {
        Command::Completions(args) => completions::run(args),
        Command::VerifyArchive(args) => verify_archive::run(args, &global),
        Command::VerifyBundle(args) => verify_bundle::run(args),
        Command::Keygen(args) => keygen::run(args),
        // The server ends itself gracefully on SIGINT/SIGTERM (draining its auditor).
        Command::Serve(args) => serve::run(args, &open(&global).await?).await,
        command => {
            interrupt::until_interrupted(async {
                let target = open(&global).await?;
                match command {
                    Command::Query(args) => query::run(args, &target).await,
                    Command::Tail(args) => tail::run(args, &target).await,
                    Command::Stats(args) => stats::run(args, &target).await,
                    Command::Export(args) => export::run(args, &target).await,
                    Command::Verify(args) => verify::run(args, &target).await,
                    Command::Checkpoint(args) => checkpoint::run(args, &target).await,
                    Command::Archive(args) => archive::run(args, &target).await,
                    Command::Prove(args) => prove::run(args, &target).await,
                    Command::Bundle(args) => bundle::run(args, &target).await,
                    Command::Completions(_)
                    | Command::VerifyArchive(_)
                    | Command::VerifyBundle(_)
                    | Command::Keygen(_)
                    | Command::Serve(_) => Ok(Exit::Ok),
                }
            })
            .await
        }
    }
}

async fn open(global: &Global) -> Result<Target, CliError> {
    let url = global.db.as_deref().ok_or_else(|| {
        CliError::usage("no audit store given: pass --db URL or set AUDIT_DATABASE_URL")
    })?;
    let hasher = key::hasher(global.key_file.as_deref())?;
    Target::open(url, &global.schema, hasher).await
}

/// Prints `line` on stdout at once (a script may be waiting for it).
fn print_line(line: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Prints `value` as one JSON line on stdout.
fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

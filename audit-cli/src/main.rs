//! # audit: the command line of the audit workspace
//!
//! Query, tail, count, export (CSV, JSON Lines, Excel, PDF), verify, checkpoint and archive
//! an audit log kept by `audit-sqlite` or `audit-sqlx` (PostgreSQL, MySQL/MariaDB), the way `sqlx-cli` serves sqlx users.
//!
//! ```text
//! cargo install --path audit-cli
//! export AUDIT_DATABASE_URL=sqlite:audit.db      # or postgres://…, mysql://…
//! audit query --actor alice --since 2026-11-01
//! audit export --format pdf --out november.pdf --since 2026-11-01 --until 2026-12-01
//! audit verify; echo $?                          # 0 valid, 1 tampered
//! ```
//!
//! `audit --help` and `audit <command> --help` document every option; `audit completions
//! bash` prints a completion script.
//!
//! ## Output and exit status
//!
//! Results go to stdout (a table or lines for people; `--json` gives one JSON value per
//! line for scripts), diagnostics and progress bars to stderr; colour and progress appear
//! only on a terminal (`--color` overrides). Exit status: 0 success, 1 the chain or an
//! archive does not verify (stderr names the seq and the kind), 2 a usage error (bad
//! argument or URL), 3 any other failure (a missing file, the database, a wrong key, a
//! schema newer than this tool, I/O), 130 interrupted.
//!
//! ## Keys
//!
//! An HMAC-keyed chain needs its key: `--key-file PATH` (or `AUDIT_KEY_FILE`), or the key
//! itself in `AUDIT_HMAC_KEY`. Never as an argument: arguments show in `ps`.
//!
//! ## Files
//!
//! Exports and checkpoints are written to a hidden temporary file beside the destination
//! and renamed when complete; Ctrl-C or SIGTERM removes the temporary file, so an
//! interrupted export leaves nothing behind. Existing files are not replaced without
//! `--force`; archives are never replaced.
//!
//! ## Layout
//!
//! [`cli`] holds the clap definitions, [`target`] turns a URL into a store (one variant per
//! backend), and each command is a module of [`commands`].
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod filters;
mod interrupt;
mod key;
mod outfile;
mod output;
mod target;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::error::CliError;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::set_color(cli.global.color);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            output::error(&format!("cannot start the async runtime: {err}"));
            return error::Exit::Failure.into();
        }
    };
    let result: Result<error::Exit, CliError> = runtime.block_on(commands::run(cli));
    // A report writer thread still finishing after an interrupt must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            output::error(&err.message);
            err.exit.into()
        }
    }
}

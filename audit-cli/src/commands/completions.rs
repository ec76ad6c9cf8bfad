//! `audit completions SHELL`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{CliError, Exit};

pub fn run(args: CompletionsArgs) -> Result<Exit, CliError> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "audit", &mut std::io::stdout());
    Ok(Exit::Ok)
}

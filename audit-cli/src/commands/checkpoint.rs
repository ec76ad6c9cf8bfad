//! `audit checkpoint [--out FILE]`: the chain head, to keep somewhere the log's writers
//! cannot reach; `audit verify --checkpoint FILE` later detects a truncated or rewritten log.

use std::io::Write;

use crate::cli::CheckpointArgs;
use crate::commands::print_json;
use crate::error::{CliError, Exit};
use crate::outfile::OutFile;
use crate::output;
use crate::target::Target;

pub async fn run(args: CheckpointArgs, target: &Target) -> Result<Exit, CliError> {
    let head =
        target.store().head().await?.ok_or_else(|| {
            CliError::failure("the store holds no events yet: no checkpoint to take")
        })?;
    match &args.out {
        None => print_json(&head)?,
        Some(path) => {
            let out = OutFile::create(Some(path), true, false, false)?;
            let mut file = out
                .handle()?
                .ok_or_else(|| CliError::failure("no output file for the checkpoint"))?;
            serde_json::to_writer_pretty(&mut file, &head).map_err(std::io::Error::from)?;
            file.write_all(b"\n")?;
            out.commit()?;
            output::note(&format!(
                "checkpoint at seq {} saved to {}",
                head.seq,
                path.display()
            ));
        }
    }
    Ok(Exit::Ok)
}

//! `audit keygen --origin NAME --out FILE`: a new checkpoint signing key.

use std::io::Write;

use audit_core::tlog::CheckpointSigner;

use crate::cli::KeygenArgs;
use crate::error::{CliError, Exit, one_line};
use crate::output;

pub fn run(args: KeygenArgs) -> Result<Exit, CliError> {
    let signer =
        CheckpointSigner::generate(&args.origin).map_err(|err| CliError::usage(one_line(&err)))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&args.out).map_err(|err| {
        CliError::failure(format!(
            "cannot create {}: {err} (keys are never replaced)",
            args.out.display()
        ))
    })?;
    writeln!(file, "{}", signer.private_key())?;
    file.sync_all()?;
    // The verifying key on stdout: redirect it to the file auditors get.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", signer.verifying_key())?;
    out.flush()?;
    output::note(&format!(
        "private key written to {} (keep it secret; give the line above to auditors)",
        args.out.display()
    ));
    Ok(Exit::Ok)
}

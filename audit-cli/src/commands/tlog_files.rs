//! Reading the files the transparency-log commands take: signed checkpoints and keyrings.

use std::path::Path;

use audit_core::tlog::{Keyring, SignedCheckpoint, TransparentStore, TreeFault};

use crate::error::{CliError, one_line};

fn read(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|err| {
        CliError::failure(format!("cannot read the {what} {}: {err}", path.display()))
    })
}

/// A signed checkpoint (a C2SP signed note) from a file.
pub fn read_signed_checkpoint(path: &Path) -> Result<SignedCheckpoint, CliError> {
    SignedCheckpoint::parse(&read(path, "checkpoint")?).map_err(|err| {
        CliError::failure(format!(
            "{} is not a signed checkpoint: {}",
            path.display(),
            one_line(&err)
        ))
    })
}

/// Verifying keys, one per line.
pub fn read_keyring(path: &Path) -> Result<Keyring, CliError> {
    Keyring::parse(&read(path, "key file")?).map_err(|err| {
        CliError::failure(format!(
            "{} holds no usable verifying key: {}",
            path.display(),
            one_line(&err)
        ))
    })
}

/// The checkpoint in `path`, or else the newest the store holds.
pub async fn checkpoint_or_latest(
    path: Option<&Path>,
    log: &dyn TransparentStore,
) -> Result<SignedCheckpoint, CliError> {
    match path {
        Some(path) => read_signed_checkpoint(path),
        None => log.latest_checkpoint().await?.ok_or_else(|| {
            CliError::failure(
                "the store holds no signed checkpoint: configure a checkpoint policy, or give --checkpoint FILE",
            )
        }),
    }
}

/// A tree fault as the one line of stderr the exit status 1 comes with.
pub fn tree_fault(what: &str, fault: &TreeFault) -> CliError {
    CliError::fault(format!(
        "{what} fault at seq {}: {}: {}",
        fault.seq,
        fault_kind(fault),
        fault.detail
    ))
}

/// The kind's stable name.
pub fn fault_kind(fault: &TreeFault) -> String {
    serde_json::to_value(fault.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{:?}", fault.kind))
}

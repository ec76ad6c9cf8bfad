//! `audit prove`: an inclusion proof for one event, or a consistency proof between two
//! signed checkpoints, printed as one JSON object that an auditor checks with the verifying
//! key alone.

use audit_core::tlog::leaf_hash;
use serde_json::json;

use crate::cli::ProveArgs;
use crate::commands::print_json;
use crate::commands::tlog_files::{checkpoint_or_latest, read_keyring, read_signed_checkpoint};
use crate::error::{CliError, Exit, one_line};
use crate::target::Target;

pub async fn run(args: ProveArgs, target: &Target) -> Result<Exit, CliError> {
    let log = target.log();
    let keys = args.key.as_deref().map(read_keyring).transpose()?;
    let checkpoint = checkpoint_or_latest(args.checkpoint.as_deref(), log).await?;
    let trusted = |c: &audit_core::tlog::SignedCheckpoint| match &keys {
        Some(keys) => c.verify(keys).map_err(|err| {
            CliError::fault(format!(
                "the checkpoint does not verify: {}",
                one_line(&err)
            ))
        }),
        None => Ok(c.head()),
    };
    let head = trusted(&checkpoint)?;
    if let Some(old_path) = &args.since {
        let old_checkpoint = read_signed_checkpoint(old_path)?;
        let old = trusted(&old_checkpoint)?;
        let proof = log.prove_consistency(old.size, head.size).await?;
        if keys.is_some() {
            proof.verify(&old, &head).map_err(|err| {
                CliError::fault(format!(
                    "the log is not consistent between the checkpoints: {err}"
                ))
            })?;
        }
        print_json(&json!({
            "consistency": proof,
            "old_checkpoint": old_checkpoint,
            "checkpoint": checkpoint,
        }))?;
        return Ok(Exit::Ok);
    }
    let seq = match (args.seq, args.id) {
        (Some(seq), _) => seq,
        (None, Some(id)) => log
            .seq_of(id)
            .await?
            .ok_or_else(|| CliError::failure(format!("no stored event has id {id}")))?,
        (None, None) => return Err(CliError::usage("give --seq, --id or --since")),
    };
    let record = log
        .get(seq)
        .await?
        .ok_or_else(|| CliError::failure(format!("the store holds no event at seq {seq}")))?;
    let leaf = leaf_hash(&record.event);
    let proof = log.prove_inclusion(seq, head.size).await?;
    if keys.is_some() {
        proof.verify(&leaf, &head).map_err(|err| {
            CliError::fault(format!(
                "event {seq} is not proven in the signed log: {err}"
            ))
        })?;
    }
    print_json(&json!({
        "inclusion": proof,
        "leaf_hash": leaf,
        "record": record,
        "checkpoint": checkpoint,
    }))?;
    Ok(Exit::Ok)
}

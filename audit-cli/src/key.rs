//! The chain's HMAC key: from `--key-file` or the `AUDIT_HMAC_KEY` variable, never from an
//! argument (arguments show in `ps` and shell history).

use std::path::Path;

use audit_core::ChainHasher;

use crate::error::CliError;

/// The environment variable holding the key itself (its UTF-8 bytes).
pub const KEY_ENV: &str = "AUDIT_HMAC_KEY";

/// The hasher for the given key source: HMAC-SHA256 with the file's bytes (one trailing
/// `\n` or `\r\n` dropped, so `echo secret > key` works), else with `AUDIT_HMAC_KEY`, else
/// plain SHA-256.
pub fn hasher(key_file: Option<&Path>) -> Result<ChainHasher, CliError> {
    if let Some(path) = key_file {
        let mut key = std::fs::read(path).map_err(|err| {
            CliError::failure(format!(
                "cannot read the key file {}: {err}",
                path.display()
            ))
        })?;
        if key.ends_with(b"\n") {
            key.pop();
            if key.ends_with(b"\r") {
                key.pop();
            }
        }
        if key.is_empty() {
            return Err(CliError::failure(format!(
                "the key file {} is empty",
                path.display()
            )));
        }
        return Ok(ChainHasher::hmac_sha256(&key));
    }
    match std::env::var_os(KEY_ENV) {
        Some(key) if !key.is_empty() => Ok(ChainHasher::hmac_sha256(key.as_encoded_bytes())),
        _ => Ok(ChainHasher::sha256()),
    }
}

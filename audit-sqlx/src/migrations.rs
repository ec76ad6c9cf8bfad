//! What every backend's migration runner shares: the embedded migrations' bookkeeping (which
//! are applied, whether an applied one was edited, whether the database is newer than this
//! library). Locking and the SQL itself are each backend's own.

use std::fmt::Display;

use crate::error::{Error, Result};

/// One embedded migration.
pub(crate) struct Migration {
    pub version: i32,
    pub description: &'static str,
    pub sql: &'static str,
}

/// The checksum recorded with an applied migration (SHA-256 of its SQL text as shipped).
pub(crate) fn checksum(sql: &str) -> Vec<u8> {
    audit_core::ChainHasher::sha256()
        .hash_bytes(sql.as_bytes())
        .as_bytes()
        .to_vec()
}

/// The migrations of `known` not yet in `applied` (`(version, checksum)` rows), in order.
/// An applied version this library does not know (a newer library migrated) or whose
/// checksum differs (edited) is refused.
pub(crate) fn pending<'m>(
    known: &'m [Migration],
    applied: &[(i32, Vec<u8>)],
    place: &dyn Display,
) -> Result<Vec<&'m Migration>> {
    let latest = known.last().map_or(0, |m| m.version);
    for (version, sum) in applied {
        let Some(migration) = known.iter().find(|m| m.version == *version) else {
            return Err(Error::Schema(format!(
                "{place} is at version {version}, newer than this library (which knows up to \
                 {latest}); upgrade audit-sqlx"
            )));
        };
        if *sum != checksum(migration.sql) {
            return Err(Error::Schema(format!(
                "migration {version} applied to {place} differs from the one this library \
                 ships (checksum mismatch)"
            )));
        }
    }
    Ok(known
        .iter()
        .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
        .collect())
}

/// Checks, without changing anything, that the newest applied version is `current`.
pub(crate) fn check_version(found: Option<i32>, current: i32, place: &dyn Display) -> Result<()> {
    match found {
        Some(v) if v == current => Ok(()),
        Some(v) if v > current => Err(Error::Schema(format!(
            "{place} is at version {v}, newer than this library ({current})"
        ))),
        other => Err(Error::Schema(format!(
            "{place} is at version {}, older than this library ({current}); run the migrations",
            other.unwrap_or(0)
        ))),
    }
}

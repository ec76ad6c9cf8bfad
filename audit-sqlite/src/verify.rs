//! Verification: stream the chain in `seq` order through audit-core's [`ChainVerifier`].

use audit_core::ChainHasher;
use audit_core::chain::{
    ChainAnchor, ChainFault, ChainVerifier, Checkpoint, FaultKind, VerifyReport,
};
use audit_core::store::VerifyScope;
use rusqlite::{Connection, OptionalExtension};

use crate::codec::{self, seq_param};
use crate::error::{Error, Result};
use crate::schema;

/// Verifies `scope` on a consistent snapshot, in constant memory.
pub(crate) fn verify(
    conn: &mut Connection,
    hasher: &ChainHasher,
    scope: VerifyScope,
    checkpoint: Option<&Checkpoint>,
) -> Result<VerifyReport> {
    let tx = conn.transaction()?;
    let (anchor, last) = match scope {
        VerifyScope::All => (schema::anchor(&tx)?, u64::MAX),
        VerifyScope::After(anchor) => (anchor, u64::MAX),
        VerifyScope::Range { from, to } => {
            if from > to {
                return Err(Error::InvalidRequest(format!(
                    "verify range {from}..={to} is empty"
                )));
            }
            (range_anchor(&tx, from)?, to)
        }
    };
    // A checkpoint beyond a verified range says nothing about the range.
    let checkpoint = checkpoint.filter(|c| c.seq <= last);
    let report = stream(&tx, hasher, anchor, last, checkpoint)?;
    tx.finish()?;
    Ok(report)
}

/// The trusted point before `from`: the stored record `from - 1`, the archive anchor, or
/// genesis; failing those, the first record's own link (the range is then checked only for
/// internal consistency).
fn range_anchor(conn: &Connection, from: u64) -> Result<ChainAnchor> {
    let archived = schema::anchor(conn)?;
    if from <= archived.seq.saturating_add(1) {
        return Ok(archived);
    }
    let hash_of = |seq: u64, column: &str| -> Result<Option<Vec<u8>>> {
        Ok(conn
            .query_row(
                &format!("SELECT {column} FROM audit_events WHERE seq = ?1"),
                [seq_param(seq)],
                |row| row.get(0),
            )
            .optional()?)
    };
    let before = from - 1;
    let hash = match hash_of(before, "hash")? {
        Some(hash) => hash,
        None => match hash_of(from, "prev_hash")? {
            Some(hash) => hash,
            None => return Ok(ChainAnchor::GENESIS),
        },
    };
    let hash = audit_core::chain::ChainHash::from_slice(&hash)
        .map_err(|_| Error::corrupt_record(before, "hash is not 32 bytes"))?;
    Ok(ChainAnchor { seq: before, hash })
}

fn stream(
    conn: &Connection,
    hasher: &ChainHasher,
    anchor: ChainAnchor,
    last: u64,
    checkpoint: Option<&Checkpoint>,
) -> Result<VerifyReport> {
    let mut verifier =
        ChainVerifier::from_anchor(hasher.clone(), anchor).with_checkpoint(checkpoint);
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM audit_events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        codec::columns()
    ))?;
    let mut rows = stmt.query([seq_param(anchor.seq), seq_param(last)])?;
    while let Some(row) = rows.next()? {
        match codec::decode(row) {
            Ok(record) => {
                if verifier.push(&record).is_err() {
                    break;
                }
            }
            Err(Error::CorruptRecord { seq, message }) => {
                // A row that no longer decodes was changed behind the store's back.
                let mut report = verifier.finish(None);
                if report.fault.is_none() {
                    report.fault = Some(ChainFault {
                        seq,
                        kind: FaultKind::Modified,
                        detail: format!("record {seq} cannot be decoded: {message}"),
                    });
                }
                return Ok(report);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(verifier.finish(None))
}

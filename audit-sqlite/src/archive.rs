//! Retention: move a prefix of the chain to a self-verifying archive file (audit-core's
//! backend-neutral [`archive`](audit_core::archive) format), through the one privileged
//! delete path.

use std::fs;
use std::path::{Path, PathBuf};

use audit_core::ChainHasher;
use audit_core::archive::{ArchiveFile, ArchiveReport, ArchiveWriter, archived_event};
use audit_core::chain::{ChainAnchor, ChainHash};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::codec::{self, seq_param};
use crate::error::{Error, Result};
use crate::retention_gate::RetentionGate;
use crate::{chain_append, schema};

/// The backend name written into archive headers and the `AUDIT_ARCHIVED` event's actor.
const SOURCE: &str = "sqlite";

/// What to archive and where.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveRequest {
    pub(crate) before: DateTime<Utc>,
    pub(crate) path: PathBuf,
}

/// Runs the archival in one `BEGIN IMMEDIATE` transaction on the writer connection.
pub(crate) fn run(
    conn: &mut Connection,
    hasher: &ChainHasher,
    gate: &RetentionGate,
    request: &ArchiveRequest,
) -> Result<ArchiveReport> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let anchor = schema::anchor(&tx)?;
    let first: Option<i64> = tx.query_row("SELECT min(seq) FROM audit_events", [], |r| r.get(0))?;
    // Only a prefix of the chain can go, so that the rest still verifies from an anchor:
    // stop before the first record at or after the cut-off, whatever follows it.
    let cut: Option<i64> = tx
        .query_row(
            "SELECT seq FROM audit_events WHERE occurred_at >= ?1 ORDER BY seq LIMIT 1",
            [request.before.timestamp_micros()],
            |r| r.get(0),
        )
        .optional()?;
    let last: Option<i64> = match cut {
        Some(cut) => Some(cut - 1),
        None => tx.query_row("SELECT max(seq) FROM audit_events", [], |r| r.get(0))?,
    };
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(ArchiveReport::empty(&request.path));
    };
    if last < first {
        return Ok(ArchiveReport::empty(&request.path));
    }
    let (from_seq, to_seq) = (to_u64(first)?, to_u64(last)?);
    let last_hash: Vec<u8> = tx.query_row(
        "SELECT hash FROM audit_events WHERE seq = ?1",
        [last],
        |r| r.get(0),
    )?;
    let last_anchor = ChainAnchor {
        seq: to_seq,
        hash: ChainHash::from_slice(&last_hash)
            .map_err(|_| Error::corrupt_record(to_seq, "hash is not 32 bytes"))?,
    };

    let file = write_archive(&tx, hasher, anchor, last_anchor, &request.path)?;
    let result = (|| -> Result<Option<u64>> {
        {
            let _open = gate.open(last);
            tx.execute("DELETE FROM audit_events WHERE seq <= ?1", [last])?;
        }
        schema::set_anchor(&tx, last_anchor)?;
        let file_name = request
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sha_bytes = hex::decode(&file.sha256).unwrap_or_default();
        tx.execute(
            "INSERT INTO audit_archives (archived_at, from_seq, to_seq, anchor_hash, last_hash, \
             file_sha256, file_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                Utc::now().timestamp_micros(),
                first,
                last,
                &anchor.hash.as_bytes()[..],
                &last_anchor.hash.as_bytes()[..],
                sha_bytes,
                file_name,
            ],
        )?;
        let event = archived_event(SOURCE, &file, request.before);
        let positions = chain_append::append_events(&tx, hasher, &[event], false)?;
        Ok(positions.first().map(|p| p.seq))
    })();
    let event_seq = match result.and_then(|seq| tx.commit().map(|()| seq).map_err(Error::from)) {
        Ok(seq) => seq,
        Err(err) => {
            // Nothing was deleted; the file would only be a stray copy.
            let _ = fs::remove_file(&request.path);
            return Err(err);
        }
    };
    tracing::info!(
        from_seq,
        to_seq,
        path = %request.path.display(),
        sha256 = %file.sha256,
        "audit-sqlite archived and removed events through the retention path"
    );
    Ok(ArchiveReport {
        count: to_seq - from_seq + 1,
        from_seq,
        to_seq,
        path: request.path.clone(),
        sha256: file.sha256,
        event_seq,
    })
}

fn to_u64(seq: i64) -> Result<u64> {
    u64::try_from(seq).map_err(|_| Error::corrupt_record(0, "negative seq"))
}

/// Streams the records after `anchor` up to `last` into a new archive file, verifying them
/// on the way (audit-core's [`ArchiveWriter`]). The file appears under its name only once
/// complete.
fn write_archive(
    conn: &Connection,
    hasher: &ChainHasher,
    anchor: ChainAnchor,
    last: ChainAnchor,
    path: &Path,
) -> Result<ArchiveFile> {
    let mut writer = ArchiveWriter::create(path, hasher, anchor, last, SOURCE)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM audit_events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        codec::columns()
    ))?;
    let mut rows = stmt.query([seq_param(anchor.seq), seq_param(last.seq)])?;
    while let Some(row) = rows.next()? {
        writer.push(&codec::decode(row)?)?;
    }
    Ok(writer.finish()?)
}

/// Verifies an archive file on its own, in constant memory (audit-core's
/// [`verify_archive`](audit_core::archive::verify_archive), with this crate's error type):
/// its records chain from the header's anchor and end exactly at its last position. Compare
/// the returned `sha256` with the `AUDIT_ARCHIVED` event of the live log to tie the file to
/// it. Reads archives of every backend, and `audit-sqlite-archive` files of earlier versions.
///
/// ```no_run
/// use audit_core::ChainHasher;
///
/// let result = audit_sqlite::verify_archive("audit-2025.jsonl", &ChainHasher::sha256())?;
/// assert!(result.report.is_valid());
/// # Ok::<(), audit_sqlite::Error>(())
/// ```
pub fn verify_archive(
    path: impl AsRef<Path>,
    hasher: &ChainHasher,
) -> Result<audit_core::archive::ArchiveVerification> {
    Ok(audit_core::archive::verify_archive(path, hasher)?)
}

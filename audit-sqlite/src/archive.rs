//! Retention: move a prefix of the chain to a self-verifying archive file, through the one
//! privileged delete path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use audit_core::chain::{ChainAnchor, ChainHash, ChainVerifier, Checkpoint, VerifyReport};
use audit_core::{Actor, AuditEvent, Category, ChainHasher, Severity, StoredEvent};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::{self, seq_param};
use crate::error::{Error, Result};
use crate::{chain_append, schema};

/// The action code of the event recorded in the live log after each archival.
pub const ARCHIVED_ACTION: &str = "AUDIT_ARCHIVED";

const ARCHIVE_FORMAT: &str = "audit-sqlite-archive";
const ARCHIVE_VERSION: u32 = 1;

/// What to archive and where.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveRequest {
    pub(crate) before: DateTime<Utc>,
    pub(crate) path: PathBuf,
}

/// The first line of an archive file: everything needed to verify it on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveHeader {
    /// Always `audit-sqlite-archive`.
    pub format: String,
    /// The archive format version (1).
    pub version: u32,
    /// The chain algorithm (`sha256` or `hmac-sha256`).
    pub algorithm: String,
    /// The chain position just before the first archived record.
    pub anchor: ChainAnchor,
    /// The last archived record's position: the archive must end exactly there.
    pub last: ChainAnchor,
}

/// What [`SqliteStore::archive`](crate::SqliteStore::archive) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveReport {
    /// How many records were archived and removed (0: nothing was older than the cut-off,
    /// and no file was written).
    pub count: u64,
    /// The first archived seq.
    pub from_seq: u64,
    /// The last archived seq; the live chain now starts after it.
    pub to_seq: u64,
    /// The archive file.
    pub path: PathBuf,
    /// SHA-256 of the archive file, also recorded in the live log.
    pub sha256: String,
    /// The seq of the `AUDIT_ARCHIVED` event recorded in the live log.
    pub event_seq: Option<u64>,
}

/// The result of [`verify_archive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveVerification {
    /// The archive's header.
    pub header: ArchiveHeader,
    /// SHA-256 of the whole file, to compare with the `AUDIT_ARCHIVED` event.
    pub sha256: String,
    /// The chain verification of the archived records.
    pub report: VerifyReport,
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    digest: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn json_line(out: &mut impl Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Runs the archival in one `BEGIN IMMEDIATE` transaction on the writer connection.
pub(crate) fn run(
    conn: &mut Connection,
    hasher: &ChainHasher,
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
        return Ok(empty_report(request));
    };
    if last < first {
        return Ok(empty_report(request));
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
    let header = ArchiveHeader {
        format: ARCHIVE_FORMAT.into(),
        version: ARCHIVE_VERSION,
        algorithm: hasher.algorithm().as_str().into(),
        anchor,
        last: last_anchor,
    };

    let sha256 = write_archive(&tx, hasher, &header, &request.path)?;
    let result = (|| -> Result<Option<u64>> {
        tx.execute(
            "INSERT INTO audit_retention_gate (upto_seq) VALUES (?1)",
            [last],
        )?;
        tx.execute("DELETE FROM audit_events WHERE seq <= ?1", [last])?;
        tx.execute("DELETE FROM audit_retention_gate", [])?;
        schema::set_anchor(&tx, last_anchor)?;
        let file_name = request
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sha_bytes = hex::decode(&sha256).unwrap_or_default();
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
        let event = archived_event(from_seq, to_seq, &sha256, &file_name, &last_anchor, request);
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
        sha256 = %sha256,
        "audit-sqlite archived and removed events through the retention path"
    );
    Ok(ArchiveReport {
        count: to_seq - from_seq + 1,
        from_seq,
        to_seq,
        path: request.path.clone(),
        sha256,
        event_seq,
    })
}

fn empty_report(request: &ArchiveRequest) -> ArchiveReport {
    ArchiveReport {
        count: 0,
        from_seq: 0,
        to_seq: 0,
        path: request.path.clone(),
        sha256: String::new(),
        event_seq: None,
    }
}

fn to_u64(seq: i64) -> Result<u64> {
    u64::try_from(seq).map_err(|_| Error::corrupt_record(0, "negative seq"))
}

fn archived_event(
    from_seq: u64,
    to_seq: u64,
    sha256: &str,
    file_name: &str,
    last: &ChainAnchor,
    request: &ArchiveRequest,
) -> AuditEvent {
    AuditEvent::builder(ARCHIVED_ACTION)
        .category(Category::System)
        .severity(Severity::Notice)
        .actor(Actor::system("audit-sqlite"))
        .entity("audit_archive", file_name.to_owned())
        .description(format!(
            "events {from_seq}..={to_seq} archived to {file_name} and removed from the live log"
        ))
        .metadata(serde_json::json!({
            "from_seq": from_seq,
            "to_seq": to_seq,
            "count": to_seq - from_seq + 1,
            "before": request.before.to_rfc3339(),
            "archive_sha256": sha256,
            "last_hash": last.hash.to_hex(),
        }))
        .build()
}

/// Streams the records of the header's range into a new file, verifying them on the way;
/// returns the file's SHA-256. The file appears under its name only once complete.
fn write_archive(
    conn: &Connection,
    hasher: &ChainHasher,
    header: &ArchiveHeader,
    path: &Path,
) -> Result<String> {
    if path.exists() {
        return Err(Error::InvalidRequest(format!(
            "archive file {} already exists",
            path.display()
        )));
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)?;
    let result = (|| -> Result<String> {
        let mut out = HashingWriter {
            inner: BufWriter::new(file),
            digest: Sha256::new(),
        };
        json_line(&mut out, header)?;
        let end = checkpoint(&header.last);
        let mut verifier =
            ChainVerifier::from_anchor(hasher.clone(), header.anchor).with_checkpoint(Some(&end));
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM audit_events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
            codec::columns()
        ))?;
        let mut rows = stmt.query([seq_param(header.anchor.seq), seq_param(header.last.seq)])?;
        while let Some(row) = rows.next()? {
            let record = codec::decode(row)?;
            if let Err(fault) = verifier.push(&record) {
                return Err(Error::ChainBroken(fault));
            }
            json_line(&mut out, &record)?;
        }
        let report = verifier.finish(None);
        if let Some(fault) = report.fault {
            return Err(Error::ChainBroken(fault));
        }
        out.flush()?;
        let HashingWriter { inner, digest } = out;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(hex::encode(digest.finalize()))
    })();
    match result {
        Ok(sha256) => {
            fs::rename(&partial, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // Persist the rename; not every platform can open a directory.
                if let Ok(dir) = File::open(dir) {
                    let _ = dir.sync_all();
                }
            }
            Ok(sha256)
        }
        Err(err) => {
            let _ = fs::remove_file(&partial);
            Err(err)
        }
    }
}

fn checkpoint(anchor: &ChainAnchor) -> Checkpoint {
    Checkpoint {
        seq: anchor.seq,
        hash: anchor.hash,
        taken_at: Utc::now(),
    }
}

/// Verifies an archive file on its own, in constant memory: its records chain from the
/// header's anchor and end exactly at its last position. Compare the returned `sha256` with
/// the `AUDIT_ARCHIVED` event of the live log to tie the file to it.
///
/// ```no_run
/// use audit_core::ChainHasher;
///
/// let result = audit_sqlite::verify_archive("audit-2025.jsonl", &ChainHasher::sha256())?;
/// assert!(result.report.is_valid());
/// # Ok::<(), audit_sqlite::Error>(())
/// ```
pub fn verify_archive(path: impl AsRef<Path>, hasher: &ChainHasher) -> Result<ArchiveVerification> {
    let file = File::open(path.as_ref())?;
    let mut reader = BufReader::new(file);
    let mut digest = Sha256::new();
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> Result<bool> {
        line.clear();
        let n = reader.read_line(line)?;
        digest.update(line.as_bytes());
        Ok(n > 0)
    };
    if !read_line(&mut line)? {
        return Err(Error::InvalidArchive("the file is empty".into()));
    }
    let header: ArchiveHeader = serde_json::from_str(&line)
        .map_err(|e| Error::InvalidArchive(format!("bad header: {e}")))?;
    if header.format != ARCHIVE_FORMAT || header.version != ARCHIVE_VERSION {
        return Err(Error::InvalidArchive(format!(
            "unknown format {:?} version {}",
            header.format, header.version
        )));
    }
    if header.algorithm != hasher.algorithm().as_str() {
        return Err(Error::HasherMismatch {
            stored: header.algorithm.clone(),
            configured: hasher.algorithm().as_str().into(),
        });
    }
    let end = checkpoint(&header.last);
    let mut verifier =
        ChainVerifier::from_anchor(hasher.clone(), header.anchor).with_checkpoint(Some(&end));
    let mut number = 1;
    let mut broken = false;
    while read_line(&mut line)? {
        number += 1;
        if broken {
            continue; // keep hashing the file
        }
        let record: StoredEvent = serde_json::from_str(&line)
            .map_err(|e| Error::InvalidArchive(format!("line {number}: {e}")))?;
        broken = verifier.push(&record).is_err();
    }
    let report = verifier.finish(None);
    Ok(ArchiveVerification {
        header,
        sha256: hex::encode(digest.finalize()),
        report,
    })
}

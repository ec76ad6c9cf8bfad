//! Archive files: a prefix of a chain moved out of the live store into one self-verifying
//! file, the same format for every backend.
//!
//! An archive is JSON Lines. The first line is an [`ArchiveHeader`]: the format name
//! (`audit-archive`) and version, the chain algorithm, the chain position just before the
//! first archived record (`anchor`) and the last archived record's position (`last`). Every
//! following line is one [`StoredEvent`] exactly as a JSON Lines export writes it, in `seq`
//! order. So an archive verifies on its own, in constant memory: its records must chain from
//! `anchor` and end exactly at `last` ([`verify_archive`]). Its SHA-256 is recorded in the
//! live log by an [`ARCHIVED_ACTION`] event ([`archived_event`]), which ties the file to the
//! chain that continues after it.
//!
//! Files written by `audit-sqlite` before this module existed (format
//! `audit-sqlite-archive`, version 1) have the same layout and are read and verified alike.
//!
//! A backend archives in three steps, inside the transaction that holds its chain head:
//! stream the prefix into an [`ArchiveWriter`] (which verifies every record as it goes and
//! refuses a broken chain), [`finish`](ArchiveWriter::finish) it (flushed, synced, and only
//! then renamed to its final name), then delete the prefix through its privileged path and
//! append the [`archived_event`]. If anything fails before the commit, the backend removes
//! the file again; an unfinished writer removes its partial file when dropped.
//!
//! ```
//! use audit_core::archive::{ArchiveWriter, verify_archive};
//! use audit_core::chain::{ChainAnchor, ChainHash, ChainHasher};
//! use audit_core::{AuditEvent, StoredEvent};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let hasher = ChainHasher::sha256();
//! let mut prev = ChainHash::ZERO;
//! let records: Vec<StoredEvent> = (1..=3)
//!     .map(|seq| {
//!         let event = AuditEvent::builder("USER_LOGIN").build();
//!         let hash = hasher.hash(&prev, &event);
//!         let record = StoredEvent { seq, prev_hash: prev, hash, event };
//!         prev = hash;
//!         record
//!     })
//!     .collect();
//! let last = ChainAnchor { seq: 3, hash: prev };
//!
//! let path = dir.path().join("archive-1.jsonl");
//! let mut writer = ArchiveWriter::create(&path, &hasher, ChainAnchor::GENESIS, last, "example")?;
//! for record in &records {
//!     writer.push(record)?;
//! }
//! let file = writer.finish()?;
//! assert_eq!(file.count, 3);
//!
//! let checked = verify_archive(&path, &hasher)?;
//! assert!(checked.report.is_valid());
//! assert_eq!(checked.sha256, file.sha256);
//! # Ok(()) }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chain::{ChainAnchor, ChainFault, ChainHasher, ChainVerifier, Checkpoint, VerifyReport};
use crate::event::{Actor, AuditEvent, Category, Severity, StoredEvent, now_micros};

/// The action code of the event recorded in the live log after each archival.
pub const ARCHIVED_ACTION: &str = "AUDIT_ARCHIVED";

/// The format name written in the header of every new archive.
pub const ARCHIVE_FORMAT: &str = "audit-archive";
/// The version of [`ARCHIVE_FORMAT`] this module writes.
pub const ARCHIVE_VERSION: u32 = 1;
/// The format name of archives written by `audit-sqlite` before [`ARCHIVE_FORMAT`]; read and
/// verified like the current format (version 1 only).
pub const LEGACY_SQLITE_FORMAT: &str = "audit-sqlite-archive";

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading or writing the file failed.
    #[error("archive I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The destination already exists; archives are never overwritten.
    #[error("archive file {} already exists", .0.display())]
    Exists(PathBuf),
    /// The file is not an archive, or one of a format or version this library does not know.
    #[error("invalid archive file: {0}")]
    Invalid(String),
    /// The archive was linked with another chain algorithm than the one given to verify it.
    #[error("the archive is linked with {stored}, but the verifier was given {configured}")]
    HasherMismatch {
        /// The algorithm named in the archive's header.
        stored: String,
        /// The algorithm of the hasher given.
        configured: String,
    },
    /// A record pushed into an [`ArchiveWriter`] does not verify; archiving (and so deleting)
    /// it would destroy the evidence.
    #[error("refusing to archive a range whose chain does not verify: {0}")]
    ChainBroken(#[source] ChainFault),
}

/// The first line of an archive file: everything needed to verify it on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArchiveHeader {
    /// [`ARCHIVE_FORMAT`] (or [`LEGACY_SQLITE_FORMAT`] in older files).
    pub format: String,
    /// The format version ([`ARCHIVE_VERSION`]).
    pub version: u32,
    /// The chain algorithm (`sha256` or `hmac-sha256`).
    pub algorithm: String,
    /// The chain position just before the first archived record.
    pub anchor: ChainAnchor,
    /// The last archived record's position: the archive must end exactly there.
    pub last: ChainAnchor,
    /// Which backend wrote the archive (`sqlite`, `postgres`); absent in legacy files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When the archive was written; absent in legacy files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl ArchiveHeader {
    /// A header of the current format for the records after `anchor` up to `last`.
    pub fn new(hasher: &ChainHasher, anchor: ChainAnchor, last: ChainAnchor, source: &str) -> Self {
        Self {
            format: ARCHIVE_FORMAT.into(),
            version: ARCHIVE_VERSION,
            algorithm: hasher.algorithm().as_str().into(),
            anchor,
            last,
            source: Some(source.into()),
            created_at: Some(now_micros()),
        }
    }

    /// How many records the archive holds when complete.
    pub fn count(&self) -> u64 {
        self.last.seq.saturating_sub(self.anchor.seq)
    }

    fn check_format(&self) -> Result<(), ArchiveError> {
        let known = (self.format == ARCHIVE_FORMAT || self.format == LEGACY_SQLITE_FORMAT)
            && self.version == ARCHIVE_VERSION;
        if !known {
            return Err(ArchiveError::Invalid(format!(
                "unknown format {:?} version {}",
                self.format, self.version
            )));
        }
        if self.last.seq < self.anchor.seq {
            return Err(ArchiveError::Invalid(format!(
                "the header's range ends at seq {} before its anchor at seq {}",
                self.last.seq, self.anchor.seq
            )));
        }
        Ok(())
    }
}

/// A complete archive file, as [`ArchiveWriter::finish`] leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its header.
    pub header: ArchiveHeader,
    /// How many records it holds.
    pub count: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
}

/// What an archival run did, the same for every backend.
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
    /// The seq of the [`ARCHIVED_ACTION`] event recorded in the live log.
    pub event_seq: Option<u64>,
}

impl ArchiveReport {
    /// The report of a run that found nothing to archive.
    pub fn empty(path: impl Into<PathBuf>) -> Self {
        Self {
            count: 0,
            from_seq: 0,
            to_seq: 0,
            path: path.into(),
            sha256: String::new(),
            event_seq: None,
        }
    }
}

/// The result of [`verify_archive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveVerification {
    /// The archive's header.
    pub header: ArchiveHeader,
    /// SHA-256 of the whole file, to compare with the [`ARCHIVED_ACTION`] event.
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

fn json_line(out: &mut impl Write, value: &impl Serialize) -> Result<(), ArchiveError> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn end_checkpoint(last: &ChainAnchor) -> Checkpoint {
    Checkpoint {
        seq: last.seq,
        hash: last.hash,
        taken_at: now_micros(),
    }
}

/// Writes one archive file, verifying each record as it is pushed.
///
/// The file is written as `<path>.partial` (created exclusively) and renamed to `path` only
/// by [`finish`](Self::finish), after the chain verified from the header's anchor to its
/// last position and the data was synced; so a crash or an error never leaves a file under
/// the final name that is not a complete archive. Dropping an unfinished writer removes the
/// partial file.
pub struct ArchiveWriter {
    path: PathBuf,
    partial: PathBuf,
    /// The open file and the verifier; taken by `finish`.
    open: Option<Open>,
    header: ArchiveHeader,
    count: u64,
    /// Set once the file is under its final name; until then, drop removes the partial file.
    renamed: bool,
}

struct Open {
    out: HashingWriter<BufWriter<File>>,
    verifier: ChainVerifier,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

fn spent() -> ArchiveError {
    ArchiveError::Invalid("the archive writer was already finished".into())
}

impl ArchiveWriter {
    /// Starts an archive at `path` (which must not exist) for the records after `anchor` up
    /// to and including `last`, written by the backend named `source`.
    pub fn create(
        path: impl Into<PathBuf>,
        hasher: &ChainHasher,
        anchor: ChainAnchor,
        last: ChainAnchor,
        source: &str,
    ) -> Result<Self, ArchiveError> {
        let path = path.into();
        let header = ArchiveHeader::new(hasher, anchor, last, source);
        header.check_format()?;
        if path.exists() {
            return Err(ArchiveError::Exists(path));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)?;
        let verifier = ChainVerifier::from_anchor(hasher.clone(), anchor)
            .with_checkpoint(Some(&end_checkpoint(&last)));
        let mut out = HashingWriter {
            inner: BufWriter::new(file),
            digest: Sha256::new(),
        };
        let written = json_line(&mut out, &header);
        let writer = Self {
            path,
            partial,
            open: Some(Open { out, verifier }),
            header,
            count: 0,
            renamed: false,
        };
        written.map(|()| writer)
    }

    /// The header this archive starts with.
    pub fn header(&self) -> &ArchiveHeader {
        &self.header
    }

    /// How many records were pushed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends the next record (in `seq` order). A record that does not verify is refused
    /// with [`ArchiveError::ChainBroken`] (a fault in a record is found when its successor,
    /// or [`finish`](Self::finish), arrives); one past the header's last position with
    /// [`ArchiveError::Invalid`].
    pub fn push(&mut self, record: &StoredEvent) -> Result<(), ArchiveError> {
        if record.seq > self.header.last.seq {
            return Err(ArchiveError::Invalid(format!(
                "record {} lies after the archive's last seq {}",
                record.seq, self.header.last.seq
            )));
        }
        let open = self.open.as_mut().ok_or_else(spent)?;
        open.verifier
            .push(record)
            .map_err(ArchiveError::ChainBroken)?;
        json_line(&mut open.out, record)?;
        self.count += 1;
        Ok(())
    }

    /// Checks that the chain reached the header's last position, syncs the file, and moves it
    /// to its final name. On error the partial file is removed.
    pub fn finish(mut self) -> Result<ArchiveFile, ArchiveError> {
        let Open { mut out, verifier } = self.open.take().ok_or_else(spent)?;
        if let Some(fault) = verifier.finish(None).fault {
            return Err(ArchiveError::ChainBroken(fault));
        }
        out.flush()?;
        let HashingWriter { inner, digest } = out;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        if self.path.exists() {
            return Err(ArchiveError::Exists(self.path.clone()));
        }
        fs::rename(&self.partial, &self.path)?;
        self.renamed = true;
        sync_parent(&self.path);
        Ok(ArchiveFile {
            path: self.path.clone(),
            header: self.header.clone(),
            count: self.count,
            sha256: hex::encode(digest.finalize()),
        })
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        if !self.renamed {
            self.open = None; // close the file before removing it
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// Persists a rename in `path`'s directory (best effort: not every platform can open one).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

/// Verifies an archive file on its own, in constant memory: its records chain from the
/// header's anchor and end exactly at its last position. Compare the returned `sha256` with
/// the [`ARCHIVED_ACTION`] event of the live log to tie the file to it.
///
/// A file that is not an archive gives [`ArchiveError::Invalid`]; a chain that does not
/// verify is reported in [`ArchiveVerification::report`] (the first bad seq and the kind),
/// not as an error.
pub fn verify_archive(
    path: impl AsRef<Path>,
    hasher: &ChainHasher,
) -> Result<ArchiveVerification, ArchiveError> {
    let file = File::open(path.as_ref())?;
    let mut reader = BufReader::new(file);
    let mut digest = Sha256::new();
    let mut line = Vec::new();
    let mut read_line = |line: &mut Vec<u8>| -> Result<bool, ArchiveError> {
        line.clear();
        let n = reader.read_until(b'\n', line)?;
        digest.update(&line[..]);
        Ok(n > 0)
    };
    if !read_line(&mut line)? {
        return Err(ArchiveError::Invalid("the file is empty".into()));
    }
    let header: ArchiveHeader = serde_json::from_slice(&line)
        .map_err(|e| ArchiveError::Invalid(format!("bad header: {e}")))?;
    header.check_format()?;
    if header.algorithm != hasher.algorithm().as_str() {
        return Err(ArchiveError::HasherMismatch {
            stored: header.algorithm.clone(),
            configured: hasher.algorithm().as_str().into(),
        });
    }
    let mut verifier = ChainVerifier::from_anchor(hasher.clone(), header.anchor)
        .with_checkpoint(Some(&end_checkpoint(&header.last)));
    let mut number = 1u64;
    let mut broken = false;
    while read_line(&mut line)? {
        number += 1;
        if broken {
            continue; // keep hashing the file
        }
        let record: StoredEvent = serde_json::from_slice(&line)
            .map_err(|e| ArchiveError::Invalid(format!("line {number}: {e}")))?;
        broken = verifier.push(&record).is_err();
    }
    Ok(ArchiveVerification {
        header,
        sha256: hex::encode(digest.finalize()),
        report: verifier.finish(None),
    })
}

/// The [`ARCHIVED_ACTION`] event a backend appends to its live log after archiving `file`:
/// it names the range, the file and its SHA-256, so the live chain vouches for the archive.
/// `source` is the backend's name (the event's system actor is `audit-<source>`).
pub fn archived_event(source: &str, file: &ArchiveFile, before: DateTime<Utc>) -> AuditEvent {
    let from_seq = file.header.anchor.seq + 1;
    let to_seq = file.header.last.seq;
    let file_name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    AuditEvent::builder(ARCHIVED_ACTION)
        .category(Category::System)
        .severity(Severity::Notice)
        .actor(Actor::system(format!("audit-{source}")))
        .entity("audit_archive", file_name.clone())
        .description(format!(
            "events {from_seq}..={to_seq} archived to {file_name} and removed from the live log"
        ))
        .metadata(serde_json::json!({
            "from_seq": from_seq,
            "to_seq": to_seq,
            "count": file.count,
            "before": before.to_rfc3339(),
            "archive_sha256": file.sha256,
            "last_hash": file.header.last.hash.to_hex(),
        }))
        .build()
}

/// Whether `event` is the `AUDIT_ARCHIVED` record of an archival that ended at `anchor`:
/// what vouches, in the chain itself, for a live log that starts after `anchor.seq`.
///
/// A store's anchor lives in a writable table; an attacker who removes a prefix of the log
/// can move it, but cannot add this event to the chain without changing every later hash
/// (detected by a checkpoint) or, with an HMAC key, at all.
pub fn vouches_for(event: &AuditEvent, anchor: &ChainAnchor) -> bool {
    event.action == ARCHIVED_ACTION
        && event.metadata["to_seq"].as_u64() == Some(anchor.seq)
        && event.metadata["last_hash"].as_str() == Some(anchor.hash.to_hex().as_str())
}

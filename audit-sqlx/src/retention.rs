//! What every backend's retention path shares: its report, which prefix it may remove, and
//! writing that prefix to an archive file.

use std::path::PathBuf;

use audit_core::archive::{ArchiveFile, ArchiveReport, ArchiveWriter};
use audit_core::chain::ChainAnchor;

use crate::error::Result;
use crate::read::{ReadBackend, SCAN_BATCH};

/// What a retention run removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    /// How many events were deleted.
    pub deleted: u64,
    /// The new verification anchor (the last purged event), when anything was purged.
    pub anchor: Option<ChainAnchor>,
}

impl PurgeReport {
    /// Nothing was purged.
    pub(crate) const NOTHING: Self = Self {
        deleted: 0,
        anchor: None,
    };
}

/// The prefix of the chain a retention run removes: the records after `anchor` up to `last`.
pub(crate) struct Prefix {
    pub anchor: ChainAnchor,
    pub last: ChainAnchor,
}

/// Streams `prefix` into a new archive file at `path`, [`SCAN_BATCH`] rows per round trip,
/// verifying the range as it goes (the writer refuses a broken chain). The caller holds the
/// chain head lock, so the committed prefix cannot change while it is read; `source` names
/// the backend in the file's header.
pub(crate) async fn write_archive(
    backend: &impl ReadBackend,
    prefix: &Prefix,
    path: PathBuf,
    source: &str,
) -> Result<ArchiveFile> {
    let mut writer =
        ArchiveWriter::create(path, backend.hasher(), prefix.anchor, prefix.last, source)?;
    let mut after = prefix.anchor.seq;
    loop {
        let rows = backend.scan(after, prefix.last.seq, SCAN_BATCH).await?;
        let fetched = rows.len();
        for row in rows {
            let record = row?;
            after = record.seq;
            writer.push(&record)?;
        }
        if fetched < SCAN_BATCH as usize {
            break;
        }
    }
    Ok(writer.finish()?)
}

/// Ends an archival whose file is written: `committed` is the outcome of the transaction that
/// deleted the prefix and recorded `AUDIT_ARCHIVED` (that event's seq). On success the
/// report; on failure the file is removed again (nothing was deleted, so it would only be a
/// stray copy) and the error returned. `store` names the store in the log line.
pub(crate) fn finish_archive(
    committed: Result<Option<u64>>,
    prefix: &Prefix,
    file: ArchiveFile,
    path: PathBuf,
    store: &dyn std::fmt::Display,
) -> Result<ArchiveReport> {
    let event_seq = match committed {
        Ok(seq) => seq,
        Err(err) => {
            let _ = std::fs::remove_file(&path);
            return Err(err);
        }
    };
    tracing::info!(
        %store,
        from_seq = prefix.anchor.seq + 1,
        to_seq = prefix.last.seq,
        path = %path.display(),
        sha256 = %file.sha256,
        "archived and removed audit events through the retention path"
    );
    Ok(ArchiveReport {
        count: file.count,
        from_seq: prefix.anchor.seq + 1,
        to_seq: prefix.last.seq,
        path,
        sha256: file.sha256,
        event_seq,
    })
}

/// The last seq to delete so that what remains is a contiguous chain suffix: everything
/// before the first event (by seq) at or after the cutoff, or everything when there is none.
/// `first_kept` is the lowest seq at or after the cutoff, `min` and `max` the lowest and
/// highest stored seqs. `None` when nothing may go.
pub(crate) fn last_to_purge(
    first_kept: Option<u64>,
    min: Option<u64>,
    max: Option<u64>,
) -> Option<u64> {
    let min = min?;
    let cut = match first_kept {
        Some(kept) => kept.checked_sub(1)?,
        None => max?,
    };
    (cut >= min).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_prefix_goes_up_to_the_first_event_to_keep() {
        assert_eq!(last_to_purge(Some(6), Some(1), Some(9)), Some(5));
    }

    #[test]
    fn everything_goes_when_nothing_is_newer_than_the_cutoff() {
        assert_eq!(last_to_purge(None, Some(3), Some(9)), Some(9));
    }

    #[test]
    fn nothing_goes_when_the_first_stored_event_is_to_be_kept() {
        assert_eq!(last_to_purge(Some(3), Some(3), Some(9)), None);
        assert_eq!(last_to_purge(None, None, None), None);
    }
}

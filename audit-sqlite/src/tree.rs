//! The log's Merkle tree and signed checkpoints in the file: `audit_tree_runs` holds the
//! stored hashes of the events, a run of consecutive events per row (written in the events'
//! transaction), `audit_checkpoints` the signed checkpoints (written in the transaction of
//! the append that made them due).
//!
//! The event at `seq` stores `1 + trailing_zeros(seq)` hashes (its [`TreeRow`]). A run row
//! `(first_seq, last_seq, hashes)` holds the rows of `first_seq..=last_seq` concatenated, and
//! never crosses a multiple of [`RUN_LEAVES`]. One row per event made the tree's own inserts
//! about half of what it cost an append (the other half is hashing): measured with `perf`
//! over equal work, 1 000-event batches into a file, the writer spent 14 % more CPU with the
//! tree than without, 5 % with the rows kept but not inserted. With runs the tree costs
//! 6–12 % of the append rate (`tlog` bench, docs/benchmarks.md §9), against 15–17 % before.

use std::collections::BTreeMap;

use audit_core::tlog::{CheckpointPolicy, Frontier, SignedCheckpoint, TreeRow, leaf_hash_of_entry};
use rusqlite::{Connection, OptionalExtension};

use crate::codec::{self, seq_param};
use crate::error::{Error, Result};
use crate::schema;

/// Set in `audit_meta` when the tree could not be built on upgrade (the log had already
/// archived a prefix, whose events the tree needs): the store then writes no tree.
const TREE_UNAVAILABLE: &str = "tree_unavailable";

/// The most events one run row holds; runs end at its multiples (256 is also the width of a
/// C2SP `tlog-tiles` tile). A full run is 511 hashes, 16 KB over four overflow pages, so a
/// proof at 10M reads 24 rows from such values: 167 µs against 83 with a row per event.
/// Runs of 32 (2 KB, no overflow; about 32 inserts per 1 000 events) cost 3–4 points more of
/// append rate in the same turns (10–14 % against 8–10 %); the append is the hot path.
const RUN_LEAVES: u64 = 256;

/// Whether the store keeps a tree.
pub(crate) fn enabled(conn: &Connection) -> Result<bool> {
    Ok(schema::meta_get(conn, TREE_UNAVAILABLE)?.is_none())
}

/// Leaves in the tree: the last seq of the newest run.
pub(crate) fn size(conn: &Connection) -> Result<u64> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT last_seq FROM audit_tree_runs ORDER BY first_seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(last.map_or(0, |m| m.max(0) as u64))
}

/// Hashes stored by the events `1..=seq` together: `seq + Σ trailing_zeros` = `2·seq −
/// popcount(seq)` (the 2-adic valuation of `seq!` is `seq − popcount(seq)`).
fn hashes_through(seq: u64) -> u64 {
    2 * seq - u64::from(seq.count_ones())
}

/// Where the row of `seq` sits in the bytes of the run starting at `first` (`1 <= first <=
/// seq`); `None` past what a run could hold (a forged `last_seq`).
fn row_bytes_in_run(first: u64, seq: u64) -> Option<std::ops::Range<usize>> {
    let start = (hashes_through(seq - 1) - hashes_through(first - 1)).checked_mul(32)?;
    let start = usize::try_from(start).ok()?;
    Some(start..start.checked_add(TreeRow::len_for(seq) * 32)?)
}

/// Where a run row is: its first and last seq and the length of its bytes.
#[derive(Debug, Clone, Copy)]
struct RunSpan {
    first: u64,
    last: u64,
    len: usize,
}

impl RunSpan {
    /// Where the row of `seq` (which the run covers) sits in the run's bytes, once the run's
    /// length is checked against its seqs.
    fn row_at(&self, seq: u64) -> Result<std::ops::Range<usize>> {
        let expected = row_bytes_in_run(self.first, self.last + 1).map(|r| r.start);
        match (expected, row_bytes_in_run(self.first, seq)) {
            (Some(expected), Some(at)) if self.len == expected => Ok(at),
            _ => Err(Error::corrupt_record(
                seq,
                format!(
                    "the tree run {}..={} holds {} bytes, not the rows of those seqs",
                    self.first, self.last, self.len
                ),
            )),
        }
    }
}

/// The stored rows of `seqs` (absent ones are left out). Callers outside a transaction open
/// one first: each statement outside one takes and drops the file's read lock on its own.
///
/// Each row's bytes are read from its run with SQLite's incremental blob I/O, not the whole
/// run: a full run is 16 KB over four overflow pages and a row is 32–160 bytes of it. Whole
/// runs made a proof at 10M take 195 µs (167 this way), and a tenant's page of proofs would
/// have held every run it touched in memory.
pub(crate) fn rows(conn: &Connection, seqs: &[u64]) -> Result<Vec<TreeRow>> {
    // Cached: a proof reads about log2(n) rows and the parse would cost as much as the reads.
    // `length()` of a value does not read its overflow pages.
    let mut find = conn.prepare_cached(
        "SELECT first_seq, last_seq, length(hashes) FROM audit_tree_runs \
         WHERE first_seq <= ?1 ORDER BY first_seq DESC LIMIT 1",
    )?;
    let mut spans: BTreeMap<u64, RunSpan> = BTreeMap::new();
    let mut blob: Option<(u64, rusqlite::blob::Blob<'_>)> = None;
    let mut bytes = Vec::with_capacity(64 * 32);
    let mut out = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        if seq == 0 {
            continue;
        }
        let cached = spans
            .range(..=seq)
            .next_back()
            .map(|(_, span)| *span)
            .filter(|span| seq <= span.last);
        let span = match cached {
            Some(span) => span,
            None => {
                let found = find
                    .query_row([seq_param(seq)], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    })
                    .optional()?;
                let Some((first, last, len)) = found else {
                    continue;
                };
                let span = RunSpan {
                    first: first.max(1) as u64,
                    last: last.max(0) as u64,
                    len: len.max(0) as usize,
                };
                if span.last < seq {
                    continue;
                }
                spans.insert(span.first, span);
                span
            }
        };
        let at = span.row_at(seq)?;
        // The run's `first_seq` is its rowid: move the one handle from run to run.
        let handle = match &mut blob {
            Some((open, handle)) if *open == span.first => handle,
            Some((open, handle)) => {
                handle.reopen(seq_param(span.first))?;
                *open = span.first;
                handle
            }
            None => {
                let handle = conn.blob_open(
                    rusqlite::MAIN_DB,
                    "audit_tree_runs",
                    "hashes",
                    seq_param(span.first),
                    true,
                )?;
                &mut blob.insert((span.first, handle)).1
            }
        };
        bytes.resize(at.len(), 0);
        handle.read_at_exact(&mut bytes, at.start)?;
        out.push(
            TreeRow::from_bytes(seq, &bytes)
                .map_err(|e| Error::corrupt_record(seq, e.to_string()))?,
        );
    }
    Ok(out)
}

/// The right edge of the tree of `size` leaves.
pub(crate) fn frontier(conn: &Connection, size: u64) -> Result<Frontier> {
    let rows = rows(conn, &Frontier::rows_for(size))?
        .into_iter()
        .map(|r| (r.seq, r))
        .collect();
    Frontier::from_rows(size, &rows).map_err(|e| Error::corrupt_record(size, e.to_string()))
}

/// Appends the tree rows of a batch inside its transaction, a run row at a time.
pub(crate) struct TreeAppender<'c> {
    frontier: Frontier,
    runs: RunWriter<'c>,
}

impl<'c> TreeAppender<'c> {
    /// Starts after the tree's `size` leaves, or `None` when the store keeps no tree.
    pub(crate) fn start(conn: &'c Connection, size: u64) -> Result<Option<Self>> {
        if !enabled(conn)? {
            return Ok(None);
        }
        let have = self::size(conn)?;
        if have != size {
            return Err(Error::corrupt_record(
                size,
                format!("the tree has {have} leaves but the chain {size} events"),
            ));
        }
        Ok(Some(Self {
            frontier: frontier(conn, size)?,
            runs: RunWriter::new(conn)?,
        }))
    }

    /// Adds the event whose canonical bytes are `entry`.
    pub(crate) fn push(&mut self, entry: &[u8]) -> Result<()> {
        let row = self.frontier.append(leaf_hash_of_entry(entry));
        self.runs.push(&row)
    }

    /// Writes the last run and returns the tree after the pushed events. Until it is called
    /// the newest rows are not stored.
    pub(crate) fn finish(mut self) -> Result<Frontier> {
        self.runs.flush()?;
        Ok(self.frontier)
    }
}

/// Gathers consecutive tree rows into run rows: a run ends at a multiple of
/// [`RUN_LEAVES`], at a gap, or when flushed.
struct RunWriter<'c> {
    first: u64,
    next: u64,
    bytes: Vec<u8>,
    insert: rusqlite::Statement<'c>,
}

impl<'c> RunWriter<'c> {
    fn new(conn: &'c Connection) -> Result<Self> {
        Ok(Self {
            first: 0,
            next: 0,
            bytes: Vec::with_capacity(RUN_LEAVES as usize * 2 * 32),
            insert: conn.prepare(
                "INSERT INTO audit_tree_runs (first_seq, last_seq, hashes) VALUES (?1, ?2, ?3)",
            )?,
        })
    }

    fn push(&mut self, row: &TreeRow) -> Result<()> {
        if !self.bytes.is_empty() && row.seq != self.next {
            self.flush()?;
        }
        if self.bytes.is_empty() {
            self.first = row.seq;
        }
        row.write_bytes(&mut self.bytes);
        self.next = row.seq + 1;
        if row.seq.is_multiple_of(RUN_LEAVES) {
            self.flush()?;
        }
        Ok(())
    }

    /// Stores `bytes` as they are, as a run of `seq` alone: an upgrade's copy of a row it
    /// cannot read stays unreadable at its own seq.
    fn push_raw(&mut self, seq: u64, bytes: &[u8]) -> Result<()> {
        self.flush()?;
        self.insert
            .execute(rusqlite::params![seq_param(seq), seq_param(seq), bytes])?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.bytes.is_empty() {
            return Ok(());
        }
        self.insert.execute(rusqlite::params![
            seq_param(self.first),
            seq_param(self.next - 1),
            &self.bytes[..]
        ])?;
        self.bytes.clear();
        Ok(())
    }
}

/// The newest checkpoint's size (0 when none).
fn latest_size(conn: &Connection) -> Result<u64> {
    let max: Option<i64> =
        conn.query_row("SELECT max(tree_size) FROM audit_checkpoints", [], |r| {
            r.get(0)
        })?;
    Ok(max.map_or(0, |m| m.max(0) as u64))
}

/// Signs and stores a checkpoint of `frontier`'s tree when `force` or the policy says it is
/// due, unless one of that size exists. Runs inside the caller's write transaction.
pub(crate) fn sign_if_due(
    conn: &Connection,
    policy: &CheckpointPolicy,
    frontier: &Frontier,
    force: bool,
) -> Result<Option<SignedCheckpoint>> {
    let last = latest_size(conn)?;
    let size = frontier.size();
    if size == 0 || size <= last || !(force || policy.due(last, size)) {
        return Ok(None);
    }
    let checkpoint = policy
        .signer()
        .sign(frontier.head())
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    conn.execute(
        "INSERT INTO audit_checkpoints (tree_size, root, note, signed_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            seq_param(size),
            &checkpoint.head().root.as_bytes()[..],
            checkpoint.as_str(),
            chrono::Utc::now().timestamp_micros(),
        ],
    )?;
    Ok(Some(checkpoint))
}

/// Stored checkpoints from `from_size` up, smallest first.
pub(crate) fn checkpoints(
    conn: &Connection,
    from_size: u64,
    limit: u32,
) -> Result<Vec<SignedCheckpoint>> {
    let mut stmt = conn.prepare(
        "SELECT tree_size, note FROM audit_checkpoints WHERE tree_size >= ?1 \
         ORDER BY tree_size LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![seq_param(from_size), limit], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (size, note) = row?;
        SignedCheckpoint::parse(&note)
            .map_err(|e| Error::corrupt_record(size.max(0) as u64, format!("checkpoint: {e}")))
    })
    .collect()
}

/// The newest stored checkpoint.
pub(crate) fn latest(conn: &Connection) -> Result<Option<SignedCheckpoint>> {
    let note: Option<(i64, String)> = conn
        .query_row(
            "SELECT tree_size, note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    note.map(|(size, note)| {
        SignedCheckpoint::parse(&note)
            .map_err(|e| Error::corrupt_record(size.max(0) as u64, format!("checkpoint: {e}")))
    })
    .transpose()
}

/// The upgrade of a file from before the tree (schema 4 or older): builds the tree of the
/// events already stored, in the opening transaction (streaming, `O(log n)` memory). A log
/// that already archived a prefix cannot be given a tree (the archived events are not in
/// the file); it is marked and keeps working without one.
pub(crate) fn build(conn: &Connection) -> Result<()> {
    let anchor = schema::anchor(conn)?;
    if anchor.seq > 0 {
        schema::meta_set(conn, TREE_UNAVAILABLE, &anchor.seq.to_string())?;
        tracing::warn!(
            archived_up_to = anchor.seq,
            "audit-sqlite: this log archived events before it had a Merkle tree; it keeps \
             working with its hash chain, without a tree, proofs or signed checkpoints"
        );
        return Ok(());
    }
    let mut select = conn.prepare(&format!(
        "SELECT {} FROM audit_events ORDER BY seq",
        codec::columns()
    ))?;
    let mut rows = select.query([])?;
    let mut appender = TreeAppender {
        frontier: Frontier::new(),
        runs: RunWriter::new(conn)?,
    };
    let mut entry = Vec::with_capacity(512);
    while let Some(row) = rows.next()? {
        let record = codec::decode(row)?;
        if record.seq != appender.frontier.size() + 1 {
            return Err(Error::corrupt_record(
                record.seq,
                "a gap in seq; the tree cannot be built (verify the chain first)",
            ));
        }
        entry.clear();
        audit_core::chain::canonical_bytes(&record.event, &mut entry);
        appender.push(&entry)?;
    }
    let frontier = appender.finish()?;
    if frontier.size() > 0 {
        tracing::info!(
            events = frontier.size(),
            "audit-sqlite built the Merkle tree of the stored events"
        );
    }
    Ok(())
}

/// The upgrade from schema 6: copies the one-row-per-event `audit_tree` into runs, in seq
/// order and streaming, then drops it (and its triggers). Rows are copied as they are: a
/// gap starts a new run, and a row of the wrong length is stored alone under its seq, so
/// whatever was wrong with a row before is found at the same seq after.
pub(crate) fn convert_rows(conn: &Connection) -> Result<()> {
    let mut select = conn.prepare("SELECT seq, hashes FROM audit_tree ORDER BY seq")?;
    let mut rows = select.query([])?;
    let mut runs = RunWriter::new(conn)?;
    let mut copied = 0u64;
    while let Some(row) = rows.next()? {
        let (seq, bytes): (i64, Vec<u8>) = (row.get(0)?, row.get(1)?);
        let Ok(seq) = u64::try_from(seq) else {
            tracing::warn!(seq, "audit-sqlite dropped a tree row with a negative seq");
            continue;
        };
        if seq == 0 {
            tracing::warn!("audit-sqlite dropped a tree row with seq 0");
            continue;
        }
        match TreeRow::from_bytes(seq, &bytes) {
            Ok(row) => runs.push(&row)?,
            Err(_) => runs.push_raw(seq, &bytes)?,
        }
        copied += 1;
    }
    runs.flush()?;
    // A table cannot be dropped while a statement reading it is still open.
    drop(rows);
    drop(select);
    conn.execute_batch("DROP TABLE audit_tree")?;
    if copied > 0 {
        tracing::info!(rows = copied, "audit-sqlite stored its Merkle tree as runs");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_through_counts_every_rows_hashes() {
        let mut total = 0;
        for seq in 1..=5_000u64 {
            total += TreeRow::len_for(seq) as u64;
            assert_eq!(hashes_through(seq), total, "seq {seq}");
        }
        assert_eq!(hashes_through(0), 0);
    }

    #[test]
    fn a_row_is_found_where_its_run_put_it() {
        // Rows 5..=12 concatenated: 5 has 1 hash, 6 two, 7 one, 8 four, 9 one, 10 two...
        assert_eq!(row_bytes_in_run(5, 5), Some(0..32));
        assert_eq!(row_bytes_in_run(5, 6), Some(32..96));
        assert_eq!(row_bytes_in_run(5, 7), Some(96..128));
        assert_eq!(row_bytes_in_run(5, 8), Some(128..256));
        assert_eq!(row_bytes_in_run(5, 9), Some(256..288));
        assert_eq!(
            row_bytes_in_run(1, 256).map(|r| r.end as u64),
            Some(hashes_through(256) * 32)
        );
    }

    #[test]
    fn a_forged_run_end_is_an_error_not_an_overflow() {
        let span = RunSpan {
            first: 1,
            last: i64::MAX as u64,
            len: 64,
        };
        let err = span.row_at(2).map(drop).unwrap_err();
        assert!(err.to_string().contains("1..=9223372036854775807"), "{err}");
        let span = RunSpan {
            first: 5,
            last: 6,
            len: 96,
        };
        assert_eq!(span.row_at(6).ok(), Some(32..96));
    }
}

//! The log's Merkle tree and signed checkpoints in the file: `audit_tree` holds one row of
//! stored hashes per event (written in the event's transaction), `audit_checkpoints` the
//! signed checkpoints (written in the transaction of the append that made them due).

use audit_core::tlog::{CheckpointPolicy, Frontier, SignedCheckpoint, TreeRow, leaf_hash_of_entry};
use rusqlite::{Connection, OptionalExtension};

use crate::codec::{self, seq_param};
use crate::error::{Error, Result};
use crate::schema;

/// Set in `audit_meta` when the tree could not be built on upgrade (the log had already
/// archived a prefix, whose events the tree needs): the store then writes no tree.
const TREE_UNAVAILABLE: &str = "tree_unavailable";

/// Whether the store keeps a tree.
pub(crate) fn enabled(conn: &Connection) -> Result<bool> {
    Ok(schema::meta_get(conn, TREE_UNAVAILABLE)?.is_none())
}

/// Leaves in the tree.
pub(crate) fn size(conn: &Connection) -> Result<u64> {
    let max: Option<i64> = conn.query_row("SELECT max(seq) FROM audit_tree", [], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m.max(0) as u64))
}

/// The stored rows of `seqs` (absent ones are left out). Callers outside a transaction open
/// one first: each statement outside one takes and drops the file's read lock on its own.
pub(crate) fn rows(conn: &Connection, seqs: &[u64]) -> Result<Vec<TreeRow>> {
    // Cached: a proof reads about log2(n) rows and the parse would cost as much as the reads.
    let mut stmt = conn.prepare_cached("SELECT hashes FROM audit_tree WHERE seq = ?1")?;
    let mut out = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        let bytes: Option<Vec<u8>> = stmt.query_row([seq_param(seq)], |r| r.get(0)).optional()?;
        if let Some(bytes) = bytes {
            out.push(
                TreeRow::from_bytes(seq, &bytes)
                    .map_err(|e| Error::corrupt_record(seq, e.to_string()))?,
            );
        }
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

/// Appends the tree rows of a batch inside its transaction.
pub(crate) struct TreeAppender<'c> {
    frontier: Frontier,
    insert: rusqlite::Statement<'c>,
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
            insert: conn.prepare("INSERT INTO audit_tree (seq, hashes) VALUES (?1, ?2)")?,
        }))
    }

    /// Adds the event whose canonical bytes are `entry`.
    pub(crate) fn push(&mut self, entry: &[u8]) -> Result<()> {
        let row = self.frontier.append(leaf_hash_of_entry(entry));
        self.insert
            .execute(rusqlite::params![seq_param(row.seq), row.to_bytes()])?;
        Ok(())
    }

    /// The tree after the pushed events.
    pub(crate) fn frontier(&self) -> &Frontier {
        &self.frontier
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

/// The upgrade step to schema version 4: builds the tree of the events already stored, in
/// the opening transaction (streaming, `O(log n)` memory). A log that already archived a
/// prefix cannot be given a tree (the archived events are not in the file); it is marked and
/// keeps working without one.
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
        insert: conn.prepare("INSERT INTO audit_tree (seq, hashes) VALUES (?1, ?2)")?,
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
    if appender.frontier.size() > 0 {
        tracing::info!(
            events = appender.frontier.size(),
            "audit-sqlite built the Merkle tree of the stored events"
        );
    }
    Ok(())
}

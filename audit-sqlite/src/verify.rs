//! Verification: stream the chain in `seq` order through audit-core's [`ChainVerifier`].
//!
//! On more than one thread, a long enough range is read in stripes by one connection per
//! thread, all on the calling thread's snapshot, each decoding and hashing its own rows
//! ([`crate::verify_striped`]); the calling thread links them in order. What the stripes
//! leave (a log with seqs missing, a range too short to pay for extra connections, a file
//! whose write lock cannot be had for the moment the snapshots take) is read by one
//! statement on the calling thread, which copies rows out into chunks ([`RowChunk`]) while
//! worker threads decode and hash the chunks copied before ([`ChainVerifier::push_chunks`]).
//! Either way the report is the sequential one.

use audit_core::ChainHasher;
use audit_core::chain::{
    ChainAnchor, ChainFault, ChainVerifier, Checkpoint, FaultKind, Parallelism, ReadRecord,
    VerifyReport,
};
use audit_core::store::VerifyScope;
use rusqlite::{Connection, OptionalExtension};

use audit_core::archive::ARCHIVED_ACTION;

use crate::codec::{self, RowChunk, seq_param};
use crate::error::{Error, Result};
use crate::reader::Readers;
use crate::schema;
use crate::snapshot::{self, WriterPause};
use crate::verify_striped::{self, Striped};

/// Stripes pay for their connections (opened per verification) from this many stripes per
/// thread on.
const STRIPES_PER_THREAD: usize = 4;

/// Verifies `scope` on a consistent snapshot, in constant memory, on `parallelism`'s
/// threads (extra connections from `readers`).
pub(crate) fn verify(
    conn: &mut Connection,
    readers: &Readers,
    hasher: &ChainHasher,
    scope: VerifyScope,
    checkpoint: Option<&Checkpoint>,
    parallelism: Parallelism,
) -> Result<VerifyReport> {
    let pause = if worth_striping(conn, scope, parallelism)? {
        WriterPause::take(readers.path(), readers.busy_timeout())
    } else {
        None
    };
    let tx = conn.transaction()?;
    let stripe_readers = match pause {
        Some(pause) => {
            snapshot::first_read(&tx)?;
            let opened = stripe_connections(readers, parallelism.thread_count());
            drop(pause);
            // A connection that cannot be opened: everything is read on this one.
            opened.ok()
        }
        None => None,
    };
    let (anchor, last) = match scope {
        VerifyScope::All => {
            let anchor = schema::anchor(&tx)?;
            if let Some(fault) = unvouched_anchor(&tx, anchor)? {
                tx.finish()?;
                return Ok(VerifyReport {
                    checked: 0,
                    head: None,
                    fault: Some(fault),
                });
            }
            (anchor, u64::MAX)
        }
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
    let report = stream(
        &tx,
        hasher,
        anchor,
        last,
        checkpoint,
        parallelism,
        stripe_readers,
    )?;
    tx.finish()?;
    Ok(report)
}

/// Whether `scope` spans enough stored seqs for stripes to pay.
fn worth_striping(conn: &Connection, scope: VerifyScope, parallelism: Parallelism) -> Result<bool> {
    if parallelism.is_sequential() {
        return Ok(false);
    }
    let (from, to) = match scope {
        VerifyScope::All => (0, u64::MAX),
        VerifyScope::After(anchor) => (anchor.seq.saturating_add(1), u64::MAX),
        VerifyScope::Range { from, to } => (from, to),
    };
    if from > to {
        return Ok(false);
    }
    // Two statements: SQLite seeks for a lone min() or max(), but scans for both at once.
    let bound = |sql: &str| -> Result<Option<i64>> {
        Ok(conn
            .query_row(sql, [seq_param(from), seq_param(to)], |row| row.get(0))
            .optional()?)
    };
    let first =
        bound("SELECT seq FROM audit_events WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT 1")?;
    let last = bound(
        "SELECT seq FROM audit_events WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT 1",
    )?;
    let wanted = STRIPES_PER_THREAD * parallelism.thread_count() * parallelism.records_per_chunk();
    Ok(match (first, last) {
        (Some(first), Some(last)) => last.saturating_sub(first) >= wanted as i64,
        _ => false,
    })
}

/// One read connection per thread, each in a read transaction begun now.
fn stripe_connections(readers: &Readers, threads: usize) -> Result<Vec<Connection>> {
    (0..threads)
        .map(|_| {
            let conn = readers.open()?;
            snapshot::begin_read(&conn)?;
            Ok(conn)
        })
        .collect()
}

/// Checks that a live log starting after an anchor is vouched for: the last archival row
/// ends at the anchor, and the chain holds that archival's `AUDIT_ARCHIVED` record (see
/// [`audit_core::archive::vouches_for`]). The anchor and the archive rows are writable
/// tables; the event is part of the chain. A removed prefix with a moved anchor is reported
/// as [`FaultKind::Missing`] at the first seq that no archival accounts for.
fn unvouched_anchor(conn: &Connection, anchor: ChainAnchor) -> Result<Option<ChainFault>> {
    if anchor.seq == 0 {
        return Ok(None);
    }
    let archived: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT to_seq, last_hash FROM audit_archives ORDER BY to_seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let recorded = archived.is_some_and(|(to_seq, last_hash)| {
        u64::try_from(to_seq).ok() == Some(anchor.seq) && last_hash == anchor.hash.as_bytes()
    });
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM audit_events WHERE action = ?1 AND seq > ?2 ORDER BY seq",
        codec::columns()
    ))?;
    let mut rows = stmt.query(rusqlite::params![ARCHIVED_ACTION, seq_param(anchor.seq)])?;
    let mut vouched = false;
    while let Some(row) = rows.next()? {
        if let Ok(record) = codec::decode(row)
            && audit_core::archive::vouches_for(&record.event, &anchor)
        {
            vouched = true;
            break;
        }
    }
    if recorded && vouched {
        return Ok(None);
    }
    // The first seq after the last archival that ends before the anchor.
    let covered: Option<i64> = conn.query_row(
        "SELECT max(to_seq) FROM audit_archives WHERE to_seq < ?1",
        [seq_param(anchor.seq)],
        |row| row.get(0),
    )?;
    let first_gone = covered.and_then(|s| u64::try_from(s).ok()).unwrap_or(0) + 1;
    Ok(Some(ChainFault {
        seq: first_gone,
        kind: FaultKind::Missing,
        detail: format!(
            "the live log starts after seq {}, but {}: records {first_gone}..={} were \
             removed outside archival",
            anchor.seq,
            if recorded {
                "no AUDIT_ARCHIVED record in the chain accounts for it"
            } else {
                "no archival ends there"
            },
            anchor.seq
        ),
    }))
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
    parallelism: Parallelism,
    stripe_readers: Option<Vec<Connection>>,
) -> Result<VerifyReport> {
    let mut verifier =
        ChainVerifier::from_anchor(hasher.clone(), anchor).with_checkpoint(checkpoint);
    let mut after = anchor.seq;
    if let Some(stripe_readers) = stripe_readers {
        let end: Option<i64> = conn
            .query_row(
                "SELECT seq FROM audit_events WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1",
                [seq_param(last)],
                |row| row.get(0),
            )
            .optional()?;
        let end = end.and_then(|end| u64::try_from(end).ok()).unwrap_or(0);
        match verify_striped::link(
            &mut verifier,
            stripe_readers,
            hasher,
            after,
            end,
            parallelism,
        )? {
            Striped::Done => return Ok(verifier.finish(None)),
            Striped::ResumeAfter(seq) => after = seq,
        }
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM audit_events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        codec::columns()
    ))?;
    let mut rows = stmt.query([seq_param(after), seq_param(last)])?;
    if parallelism.is_sequential() {
        while let Some(row) = rows.next()? {
            match codec::read_record(codec::decode(row))? {
                ReadRecord::Decoded(record) => {
                    if verifier.push(&record).is_err() {
                        break;
                    }
                }
                ReadRecord::Undecodable { seq, detail } => {
                    verifier.undecodable(seq, detail);
                    break;
                }
            }
        }
    } else {
        let size = parallelism.records_per_chunk();
        let mut ended = false;
        let chunks = std::iter::from_fn(|| {
            if ended {
                return None;
            }
            let mut chunk = RowChunk::with_capacity(size);
            let mut failed = None;
            while chunk.len() < size {
                match rows.next() {
                    Ok(Some(row)) => {
                        if let Err(err) = chunk.push(row) {
                            failed = Some(err.into());
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        failed = Some(err.into());
                        break;
                    }
                }
            }
            ended = failed.is_some() || chunk.len() < size;
            (chunk.len() > 0 || failed.is_some()).then(|| records(chunk, failed))
        });
        verifier.push_chunks(parallelism, chunks)?;
    }
    Ok(verifier.finish(None))
}

/// The records of `chunk`, decoded as they are iterated (on a worker thread), then `failed`:
/// the error that ended reading after them.
fn records(chunk: RowChunk, failed: Option<Error>) -> impl Iterator<Item = Result<ReadRecord>> {
    (0..chunk.len())
        .map(move |i| codec::read_record(codec::decode(&chunk.row(i))))
        .chain(failed.map(Err))
}

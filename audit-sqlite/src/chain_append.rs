//! Appending to the chain inside one SQLite transaction: read the head, link each event,
//! insert it; shared by the writer thread and archival (which records `AUDIT_ARCHIVED`).

use audit_core::chain::{ChainAnchor, ChainHash};
use audit_core::tlog::{CheckpointPolicy, SignedCheckpoint};
use audit_core::{AuditEvent, ChainHasher, ChainPosition};
use rusqlite::ffi::ErrorCode;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::codec;
use crate::error::{Error, Result};
use crate::schema;
use crate::tree::{self, TreeAppender};

/// What an append wrote: each event's position, and the checkpoint it made due.
#[derive(Debug, Default)]
pub(crate) struct Appended {
    pub positions: Vec<ChainPosition>,
    pub signed: Option<SignedCheckpoint>,
}

/// The newest chain position: the last stored event, else the archive anchor, else genesis.
pub(crate) fn head(conn: &Connection) -> Result<ChainAnchor> {
    let last = conn
        .query_row(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
        )
        .optional()?;
    match last {
        Some((seq, hash)) => {
            let seq = u64::try_from(seq).map_err(|_| Error::corrupt_record(0, "negative seq"))?;
            let hash = ChainHash::from_slice(&hash)
                .map_err(|_| Error::corrupt_record(seq, "hash is not 32 bytes"))?;
            Ok(ChainAnchor { seq, hash })
        }
        None => schema::anchor(conn),
    }
}

/// Appends `events` in one `BEGIN IMMEDIATE` transaction: the head is read and advanced
/// under the database write lock, so writers in other processes extend the same chain.
///
/// An event whose id is already stored (a batch replayed after a lost reply) is not stored
/// twice: its existing position is returned.
pub(crate) fn append(
    conn: &mut Connection,
    hasher: &ChainHasher,
    policy: Option<&CheckpointPolicy>,
    events: &[AuditEvent],
) -> Result<Appended> {
    validate(events)?;
    append_valid(conn, hasher, policy, events)
}

pub(crate) fn validate(events: &[AuditEvent]) -> Result<()> {
    for (index, event) in events.iter().enumerate() {
        event
            .validate()
            .map_err(|source| Error::InvalidEvent { index, source })?;
    }
    Ok(())
}

/// [`append`] of events already validated.
pub(crate) fn append_valid(
    conn: &mut Connection,
    hasher: &ChainHasher,
    policy: Option<&CheckpointPolicy>,
    events: &[AuditEvent],
) -> Result<Appended> {
    match append_in_transaction(conn, hasher, policy, events, false) {
        Err(Error::Sqlite(err)) if is_duplicate_id(&err) => {
            append_in_transaction(conn, hasher, policy, events, true)
        }
        other => other,
    }
}

fn append_in_transaction(
    conn: &mut Connection,
    hasher: &ChainHasher,
    policy: Option<&CheckpointPolicy>,
    events: &[AuditEvent],
    dedup: bool,
) -> Result<Appended> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let appended = append_events(&tx, hasher, policy, events, dedup)?;
    tx.commit()?;
    Ok(appended)
}

/// Signs a checkpoint of the tree as it is now, in its own immediate transaction (under the
/// same write lock as appends), unless the newest one has its size.
pub(crate) fn sign_checkpoint(
    conn: &mut Connection,
    policy: &CheckpointPolicy,
) -> Result<Option<SignedCheckpoint>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !tree::enabled(&tx)? {
        return Ok(None);
    }
    let size = tree::size(&tx)?;
    let frontier = tree::frontier(&tx, size)?;
    let signed = tree::sign_if_due(&tx, policy, &frontier, true)?;
    tx.commit()?;
    Ok(signed)
}

/// Appends inside the caller's (already immediate) transaction: the events, their tree rows
/// and, when `policy` says one is due, a signed checkpoint.
pub(crate) fn append_events(
    conn: &Connection,
    hasher: &ChainHasher,
    policy: Option<&CheckpointPolicy>,
    events: &[AuditEvent],
    dedup: bool,
) -> Result<Appended> {
    let ChainAnchor {
        seq: mut last_seq,
        hash: mut last_hash,
    } = head(conn)?;
    let mut tree = TreeAppender::start(conn, last_seq)?;
    let mut insert = conn.prepare(codec::insert_sql())?;
    let mut existing = conn.prepare("SELECT seq, hash FROM audit_events WHERE id = ?1")?;
    let mut positions = Vec::with_capacity(events.len());
    let mut scratch = Vec::with_capacity(512);
    for event in events {
        if dedup {
            let found = existing
                .query_row([&event.id.as_bytes()[..]], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            if let Some((seq, hash)) = found {
                let seq = u64::try_from(seq).map_err(|_| Error::corrupt_record(0, "bad seq"))?;
                let hash = ChainHash::from_slice(&hash)
                    .map_err(|_| Error::corrupt_record(seq, "hash is not 32 bytes"))?;
                positions.push(ChainPosition { seq, hash });
                continue;
            }
        }
        let seq = last_seq + 1;
        let hash = hasher.hash_with_scratch(&last_hash, event, &mut scratch);
        codec::insert(&mut insert, seq, event, &last_hash, &hash)?;
        if let Some(tree) = &mut tree {
            // `scratch` holds `prev_hash ‖ canonical_bytes`: the leaf entry is the rest.
            tree.push(&scratch[32..])?;
        }
        positions.push(ChainPosition { seq, hash });
        last_seq = seq;
        last_hash = hash;
    }
    let frontier = tree.map(TreeAppender::finish).transpose()?;
    crate::bucket_filter::seal_through(conn, last_seq)?;
    let signed = match (policy, &frontier) {
        (Some(policy), Some(frontier)) => tree::sign_if_due(conn, policy, frontier, false)?,
        _ => None,
    };
    Ok(Appended { positions, signed })
}

fn is_duplicate_id(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, Some(message))
            if e.code == ErrorCode::ConstraintViolation && message.contains("audit_events.id")
    )
}

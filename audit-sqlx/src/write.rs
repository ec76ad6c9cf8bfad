//! Appending to the chain: one transaction that locks the head row, links the batch, inserts
//! it (binary `COPY` or `UNNEST`) and moves the head.

use std::collections::HashMap;
use std::net::IpAddr;

use audit_core::chain::ChainHash;
use audit_core::{ChainHasher, ChainPosition};
use chrono::{DateTime, Utc};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_core::types::Json;
use sqlx_postgres::{PgConnection, Postgres};
use uuid::Uuid;

use crate::encode::{Chained, Prepared, copy_binary};
use crate::error::{Error, Result};
use crate::schema::Sql;

/// Whether [`append`] looks up the batch's ids before inserting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdCheck {
    /// Look them up: stored ones are acknowledged with their stored positions.
    First,
    /// Insert straight away; a stored id fails the transaction ([`is_duplicate_id`]).
    OnConflict,
}

/// Whether `err` is a unique violation: a batch of [`IdCheck::OnConflict`] held an event
/// already stored, and is to be retried with [`IdCheck::First`].
pub(crate) fn is_duplicate_id(err: &Error) -> bool {
    matches!(err, Error::Database(sqlx_core::Error::Database(db)) if db.code().as_deref() == Some("23505"))
}

/// How a batch travels to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InsertMode {
    /// Binary `COPY ... FROM STDIN`: the fastest path measured here (the default).
    #[default]
    Copy,
    /// One `INSERT ... SELECT * FROM UNNEST($1::bigint[], ...)` with array parameters.
    Unnest,
}

/// Links `rows` after the current head and inserts them; returns each row's position, in
/// order. Must run inside a transaction: the head row stays locked until that transaction
/// ends, which is what serialises all writers (threads, processes, machines) onto one
/// gap-free chain.
///
/// Rows whose event id is already stored (a batch retried after a commit whose
/// acknowledgement was lost, a spool replayed twice) are not stored again: they are
/// acknowledged with their stored position. The same id twice in one batch counts once.
///
/// With [`IdCheck::OnConflict`] the ids are not looked up first: a batch holding a stored id
/// then fails with a unique violation ([`is_duplicate_id`]) and must be retried in a new
/// transaction with [`IdCheck::First`]. Replays are rare, and the lookup (one index probe
/// per event under the head lock) was the largest cost of an append beside the raw `COPY`.
pub(crate) async fn append(
    conn: &mut PgConnection,
    sql: &Sql,
    hasher: &ChainHasher,
    mode: InsertMode,
    rows: &mut [Prepared],
    ids: IdCheck,
) -> Result<Vec<ChainPosition>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let head = query::<Postgres>(sql.lock_head.clone())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::Schema("the chain head row is missing".into()))?;
    let head_seq: i64 = head.try_get(0)?;
    let head_hash: Vec<u8> = head.try_get(1)?;
    let algorithm: Option<String> = head.try_get(2)?;
    let wanted = hasher.algorithm().as_str();
    if let Some(algorithm) = algorithm.as_deref().filter(|a| *a != wanted) {
        return Err(Error::Schema(format!(
            "the chain in schema {} is linked with {algorithm}, but this store is \
             configured for {wanted}",
            sql.schema
        )));
    }
    let mut prev = ChainHash::from_slice(&head_hash)
        .map_err(|err| Error::Schema(format!("chain head hash: {err}")))?;
    let mut seq = u64::try_from(head_seq)
        .map_err(|_| Error::Schema(format!("chain head seq {head_seq} is negative")))?;

    let mut known: HashMap<Uuid, ChainPosition> = HashMap::new();
    let stored = match ids {
        IdCheck::First => {
            // Ids already in the chain (one unique-index probe each, under the head lock).
            let ids: Vec<Uuid> = rows.iter().map(|r| r.event.id).collect();
            query::<Postgres>(sql.find_ids.clone())
                .bind(&ids)
                .fetch_all(&mut *conn)
                .await?
        }
        IdCheck::OnConflict => Vec::new(),
    };
    for row in stored {
        let id: Uuid = row.try_get(0)?;
        let at: i64 = row.try_get(1)?;
        let hash: Vec<u8> = row.try_get(2)?;
        let hash = ChainHash::from_slice(&hash).map_err(|err| Error::Corrupt {
            seq: at as u64,
            message: format!("hash: {err}"),
        })?;
        known.insert(
            id,
            ChainPosition {
                seq: at as u64,
                hash,
            },
        );
    }
    let already = known.len();

    // Hash the new rows (mutable pass), then build the read-only view used by the insert.
    let mut positions = Vec::with_capacity(rows.len());
    let mut links = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter_mut().enumerate() {
        if let Some(pos) = known.get(&row.event.id) {
            positions.push(*pos);
            continue;
        }
        seq += 1;
        let hash = row.hash(hasher, &prev);
        let pos = ChainPosition { seq, hash };
        known.insert(row.event.id, pos);
        positions.push(pos);
        links.push((i, seq, prev, hash));
        prev = hash;
    }
    if already > 0 {
        tracing::warn!(
            schema = %sql.schema,
            already,
            "audit batch held events that are already stored (a retried commit); \
             acknowledged with their stored positions"
        );
    }
    if links.is_empty() {
        return Ok(positions);
    }
    let chained: Vec<Chained<'_>> = links
        .into_iter()
        .map(|(i, seq, prev_hash, hash)| Chained {
            row: &rows[i],
            seq,
            prev_hash,
            hash,
        })
        .collect();

    match mode {
        InsertMode::Copy => {
            let data = copy_binary(&chained);
            let mut copy = conn.copy_in_raw(sql.copy_in.as_str()).await?;
            if let Err(err) = copy.send(data).await {
                // Abort so the connection is left usable; the transaction rolls back anyway.
                let _ = copy.abort("audit-sqlx: send failed").await;
                return Err(err.into());
            }
            copy.finish().await?;
        }
        InsertMode::Unnest => insert_unnest(conn, sql, &chained).await?,
    }

    let new_seq =
        i64::try_from(seq).map_err(|_| Error::Schema("chain seq exceeds i64::MAX".into()))?;
    query::<Postgres>(sql.set_head.clone())
        .bind(new_seq)
        .bind(prev.as_bytes().to_vec())
        .bind(wanted)
        .execute(&mut *conn)
        .await?;
    Ok(positions)
}

async fn insert_unnest(conn: &mut PgConnection, sql: &Sql, rows: &[Chained<'_>]) -> Result<()> {
    let n = rows.len();
    let mut seq = Vec::with_capacity(n);
    let mut id: Vec<Uuid> = Vec::with_capacity(n);
    let mut at: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut action = Vec::with_capacity(n);
    let mut category = Vec::with_capacity(n);
    let mut outcome = Vec::with_capacity(n);
    let mut reason = Vec::with_capacity(n);
    let mut actor_kind = Vec::with_capacity(n);
    let mut actor_id = Vec::with_capacity(n);
    let mut entity_type = Vec::with_capacity(n);
    let mut entity_id = Vec::with_capacity(n);
    let mut description = Vec::with_capacity(n);
    let mut ip: Vec<Option<IpAddr>> = Vec::with_capacity(n);
    let mut user_agent = Vec::with_capacity(n);
    let mut request_id = Vec::with_capacity(n);
    let mut session_id = Vec::with_capacity(n);
    let mut tenant = Vec::with_capacity(n);
    let mut severity = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut prev_hash = Vec::with_capacity(n);
    let mut hash = Vec::with_capacity(n);
    for r in rows {
        let e = &r.row.event;
        seq.push(r.seq as i64);
        id.push(e.id);
        at.push(e.occurred_at);
        action.push(e.action.to_string());
        category.push(e.category.as_str());
        outcome.push(e.outcome.as_str());
        reason.push(e.reason.clone());
        actor_kind.push(e.actor.as_ref().map(|a| a.kind.as_str()));
        actor_id.push(e.actor.as_ref().map(|a| a.id.clone()));
        entity_type.push(e.entity_type.as_ref().map(|t| t.to_string()));
        entity_id.push(e.entity_id.clone());
        description.push(e.description.clone());
        ip.push(e.ip);
        user_agent.push(e.user_agent.clone());
        request_id.push(e.request_id.clone());
        session_id.push(e.session_id.clone());
        tenant.push(e.tenant.clone());
        severity.push(e.severity.as_str());
        metadata.push(Json(&e.metadata));
        prev_hash.push(r.prev_hash.as_bytes().to_vec());
        hash.push(r.hash.as_bytes().to_vec());
    }
    query::<Postgres>(sql.insert_unnest.clone())
        .bind(seq)
        .bind(id)
        .bind(at)
        .bind(action)
        .bind(category)
        .bind(outcome)
        .bind(reason)
        .bind(actor_kind)
        .bind(actor_id)
        .bind(entity_type)
        .bind(entity_id)
        .bind(description)
        .bind(ip)
        .bind(user_agent)
        .bind(request_id)
        .bind(session_id)
        .bind(tenant)
        .bind(severity)
        .bind(metadata)
        .bind(prev_hash)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

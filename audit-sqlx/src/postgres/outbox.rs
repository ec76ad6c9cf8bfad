//! Outbox mode: record an event inside the caller's transaction; a relay moves committed
//! outbox rows into the chain.

use std::time::Duration;

use async_trait::async_trait;

use audit_core::{AuditEvent, ChainPosition};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_core::types::Json;
use sqlx_postgres::{PgConnection, PgListener, Postgres};

use super::encode::PG_RULES;
use super::schema::notify_channel;
use super::store::PgStore;
use super::write::append;
use crate::append::Check;
use crate::error::Result;
use crate::outbox::{OutboxInsert, read_row};
use crate::prepared::Prepared;
use crate::relay::{self, Relay, RelayHandle, Wake};
use crate::tree::TreeOut;

impl PgStore {
    /// Writes `event` into the outbox through the caller's own connection or transaction
    /// (`&mut *tx`), so it exists only if the caller commits. It joins the chain when a relay
    /// ([`relay_outbox`](Self::relay_outbox) or [`spawn_relay`](Self::spawn_relay)) runs.
    ///
    /// The event is validated first: an invalid event is an error here, before it can spoil
    /// the caller's transaction.
    pub async fn record_in(&self, conn: &mut PgConnection, event: &AuditEvent) -> Result<()> {
        let prepared = Prepared::new(event, &PG_RULES)?;
        query::<Postgres>(self.inner.sql.outbox_insert.clone())
            .bind(Json(&prepared.event))
            .execute(&mut *conn)
            .await?;
        // Delivered only when the caller commits: it wakes a waiting relay.
        query::<Postgres>(self.inner.sql.outbox_notify.clone())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// [`record_in`](Self::record_in) for a service whose connection is another driver's
    /// (another sqlx major, `tokio-postgres`, `diesel`): one statement with one text
    /// parameter that inserts the row and wakes a listening relay on commit, to execute
    /// inside that service's own transaction. The event is checked here, as `record_in`
    /// checks it.
    pub fn outbox_insert(&self, event: &AuditEvent) -> Result<OutboxInsert> {
        OutboxInsert::new(&self.inner.sql.outbox_insert_text, event, &PG_RULES)
    }

    /// Moves up to `max` committed outbox rows into the chain, oldest outbox id first, in the
    /// store's own transaction: the rows are chained and deleted from the outbox atomically,
    /// so each lands exactly once even with several relays running. Returns their positions.
    ///
    /// A row that is not an event this library can store (inserted by hand, or by a service
    /// that got the format wrong) does not stop the relay: it moves to
    /// `audit_outbox_rejected` with the reason, in the same transaction, and an error is
    /// logged.
    pub async fn relay_outbox(&self, max: u32) -> Result<Vec<ChainPosition>> {
        self.runtime()
            .run(async move {
                let inner = &self.inner;
                let mut tx = inner.pool.begin().await?;
                // Take the head lock first: it serialises relays and writers, so rows are read and
                // chained by one transaction at a time.
                query::<Postgres>(inner.sql.lock_head.clone())
                    .execute(&mut *tx)
                    .await?;
                let rows = query::<Postgres>(inner.sql.outbox_take.clone())
                    .bind(i64::from(max.max(1)))
                    .fetch_all(&mut *tx)
                    .await?;
                if rows.is_empty() {
                    tx.commit().await?;
                    return Ok(Vec::new());
                }
                let mut ids = Vec::with_capacity(rows.len());
                let mut prepared = Vec::with_capacity(rows.len());
                for row in &rows {
                    let id: i64 = row.try_get(0)?;
                    let text: String = row.try_get(1)?;
                    ids.push(id);
                    match read_row(&text, &PG_RULES) {
                        Ok(p) => prepared.push(p),
                        Err(err) => {
                            tracing::error!(
                                schema = %inner.sql.schema,
                                outbox_id = id,
                                %err,
                                "outbox row is not a storable audit event; moved to \
                                 audit_outbox_rejected"
                            );
                            query::<Postgres>(inner.sql.outbox_reject.clone())
                                .bind(id)
                                .bind(&text)
                                .bind(err.to_string())
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                let mut tree = TreeOut::new(inner.checkpoints.as_ref());
                let positions = append(
                    &mut tx,
                    &inner.sql,
                    &inner.hasher,
                    inner.insert_mode,
                    &mut prepared,
                    // The relay's transaction also deletes the outbox rows: no retry in a new
                    // transaction here, so look the ids up first.
                    Check::Stored,
                    &mut tree,
                )
                .await?;
                query::<Postgres>(inner.sql.outbox_delete.clone())
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tree.publish();
                Ok(positions)
            })
            .await
    }

    /// Runs a relay in the background until the returned handle is stopped: it drains the
    /// outbox whenever a committing transaction notifies it, and at least every `poll`.
    /// Errors are logged and retried at the next wake-up.
    pub fn spawn_relay(&self, poll: Duration) -> RelayHandle {
        relay::spawn(
            self.runtime(),
            self.clone(),
            NotifyWake {
                store: self.clone(),
                poll,
                listener: None,
                tried: false,
            },
        )
    }
}

#[async_trait]
impl Relay for PgStore {
    async fn relay_batch(&self, max: u32) -> Result<usize> {
        Ok(self.relay_outbox(max).await?.len())
    }
}

/// Wakes the relay on `NOTIFY` from a committing transaction, or after `poll`.
struct NotifyWake {
    store: PgStore,
    poll: Duration,
    listener: Option<PgListener>,
    /// Whether a listener was set up once (a failed set-up falls back to polling only).
    tried: bool,
}

impl NotifyWake {
    async fn listen(&self) -> Option<PgListener> {
        let channel = notify_channel(&self.store.inner.sql.schema);
        match PgListener::connect_with(&self.store.inner.pool).await {
            Ok(mut l) => match l.listen(&channel).await {
                Ok(()) => Some(l),
                Err(err) => {
                    tracing::warn!(%err, "outbox relay: LISTEN failed, polling only");
                    None
                }
            },
            Err(err) => {
                tracing::warn!(%err, "outbox relay: no listener connection, polling only");
                None
            }
        }
    }
}

#[async_trait]
impl Wake for NotifyWake {
    async fn wait(&mut self) {
        if !self.tried {
            self.tried = true;
            self.listener = self.listen().await;
        }
        match self.listener.as_mut() {
            Some(l) => {
                if let Ok(Err(err)) = tokio::time::timeout(self.poll, l.recv()).await {
                    // The listener reconnects on its next call; do not spin while the server
                    // is unreachable.
                    tracing::warn!(%err, "outbox relay: listener failed");
                    tokio::time::sleep(self.poll).await;
                }
            }
            None => tokio::time::sleep(self.poll).await,
        }
    }
}

//! Outbox mode: record an event inside the caller's transaction; a relay moves committed
//! outbox rows into the chain.

use std::time::Duration;

use async_trait::async_trait;
use audit_core::{AuditEvent, ChainPosition};
use sqlx_core::query::query;
use sqlx_core::query_builder::QueryBuilder;
use sqlx_core::row::Row;
use sqlx_mysql::{MySql, MySqlConnection};

use super::store::MySqlStore;
use super::write::append;
use crate::append::Check;
use crate::error::Result;
use crate::outbox::{OutboxInsert, read_row};
use crate::relay::{self, Relay, RelayHandle, Wake};
use crate::tree::TreeOut;

impl MySqlStore {
    /// Writes `event` into the outbox through the caller's own connection or transaction
    /// (`&mut *tx`), so it exists only if the caller commits. It joins the chain when a relay
    /// ([`relay_outbox`](Self::relay_outbox) or [`spawn_relay`](Self::spawn_relay)) runs.
    ///
    /// The event is checked first: an invalid event, or one the events table cannot hold, is
    /// an error here, before it can spoil the caller's transaction.
    pub async fn record_in(&self, conn: &mut MySqlConnection, event: &AuditEvent) -> Result<()> {
        let insert = self.outbox_insert(event)?;
        query::<MySql>(self.inner.sql.outbox_insert.clone())
            .bind(insert.event_json)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// [`record_in`](Self::record_in) for a service whose connection is another driver's:
    /// the statement (`INSERT INTO <outbox table> (event) VALUES (?)`) and its one text
    /// parameter, to execute inside that service's own transaction. The event is checked
    /// here, as `record_in` checks it.
    pub fn outbox_insert(&self, event: &AuditEvent) -> Result<OutboxInsert> {
        OutboxInsert::new(
            self.inner.sql.outbox_insert.as_str(),
            event,
            &self.inner.rules,
        )
    }

    /// Moves up to `max` committed outbox rows into the chain, oldest outbox id first, in the
    /// store's own transaction: the rows are chained and deleted from the outbox atomically,
    /// so each lands exactly once even with several relays running. Returns their positions.
    ///
    /// A row that is not an event this library wrote (inserted by hand, or edited) does not
    /// stop the relay: it moves to the `outbox_rejected` table with the reason, in the same
    /// transaction, and an error is logged.
    pub async fn relay_outbox(&self, max: u32) -> Result<Vec<ChainPosition>> {
        self.runtime()
            .run(async move {
                let inner = &self.inner;
                let mut tx = inner.db.begin().await?;
                // The head lock first: it serialises relays and writers, so rows are read and chained
                // by one transaction at a time. READ COMMITTED: only committed rows are seen.
                super::write::lock_head(&mut tx, &inner.sql, &inner.hasher).await?;
                let rows = query::<MySql>(inner.sql.outbox_take.clone())
                    .bind(max.max(1))
                    .fetch_all(&mut *tx)
                    .await?;
                if rows.is_empty() {
                    tx.commit().await?;
                    return Ok(Vec::new());
                }
                let mut ids = Vec::with_capacity(rows.len());
                let mut prepared = Vec::with_capacity(rows.len());
                for row in &rows {
                    let id: u64 = row.try_get(0)?;
                    let text: String = row.try_get(1)?;
                    ids.push(id);
                    match read_row(&text, &inner.rules) {
                        Ok(p) => prepared.push(p),
                        Err(err) => {
                            tracing::error!(
                                store = %inner.sql.names,
                                outbox_id = id,
                                %err,
                                "outbox row is not a storable audit event; moved to outbox_rejected"
                            );
                            query::<MySql>(inner.sql.outbox_reject.clone())
                                .bind(id)
                                .bind(&text)
                                .bind(err.to_string())
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                // The relay's transaction also deletes the outbox rows: no retry in a new transaction
                // here, so look the ids up first.
                let mut tree = TreeOut::new(inner.checkpoints.as_ref());
                let positions = append(
                    &mut tx,
                    &inner.sql,
                    &inner.hasher,
                    &mut prepared,
                    Check::Stored,
                    &mut tree,
                )
                .await?;
                let mut delete = QueryBuilder::<MySql>::new(format!(
                    "DELETE FROM {} WHERE id IN (",
                    inner.sql.outbox
                ));
                let mut list = delete.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                delete.push(")");
                delete.build().execute(&mut *tx).await?;
                tx.commit().await?;
                tree.publish();
                Ok(positions)
            })
            .await
    }

    /// Runs a relay in the background until the returned handle is stopped: it drains the
    /// outbox every `poll` (MySQL has no notifications to wake it sooner). Errors are logged
    /// and retried at the next round.
    pub fn spawn_relay(&self, poll: Duration) -> RelayHandle {
        relay::spawn(self.runtime(), self.clone(), Poll(poll))
    }
}

#[async_trait]
impl Relay for MySqlStore {
    async fn relay_batch(&self, max: u32) -> Result<usize> {
        Ok(self.relay_outbox(max).await?.len())
    }
}

/// Wakes the relay after a fixed time.
struct Poll(Duration);

#[async_trait]
impl Wake for Poll {
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
    }
}

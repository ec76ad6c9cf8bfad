//! [`MySqlStore`]: the pool, connecting, and the write side ([`AuditSink`]).

use std::sync::Arc;

use async_trait::async_trait;
use audit_core::{AuditEvent, ChainHasher, ChainPosition};
use chrono::{DateTime, NaiveDate, Utc};

use super::db::Db;
use super::migrate;
use super::names::Sql;
use super::options::MySqlOptions;
use super::write::append;
use crate::append::{ChainWriter, Check, audit_sink_through_append};
use crate::error::Result;
use crate::metadata::NumberForm;
use crate::prepared::{Prepared, StorageRules};
use crate::runtime::StoreRuntime;
use crate::tree::{TreeOut, sign_and_publish, spawn_checkpoint_timer};

/// The metadata column keeps the JSON text the chain hashed, so numbers come back as written;
/// `DATETIME(6)` holds years 1000 to 9999.
fn storage_rules() -> StorageRules {
    let at = |y, m, d, h, min, s, us| {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_micro_opt(h, min, s, us))
            .map(|naive| DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc))
    };
    StorageRules {
        numbers: NumberForm::AsWritten,
        time_range: at(1000, 1, 1, 0, 0, 0, 0).zip(at(9999, 12, 31, 23, 59, 59, 999_999)),
    }
}

pub(crate) struct Inner {
    pub db: Db,
    pub sql: Sql,
    pub hasher: ChainHasher,
    pub rules: StorageRules,
    pub checkpoints: Option<audit_core::tlog::CheckpointPolicy>,
    pub verify_parallelism: audit_core::chain::Parallelism,
    /// Declared last so it is dropped after the pool, whose connections live on it.
    pub runtime: StoreRuntime,
}

/// The MySQL/MariaDB audit store: an [`AuditSink`] that appends to one hash chain shared by
/// every writer, and an [`AuditStore`](audit_core::AuditStore) for queries and verification.
///
/// Cloning is cheap and shares the pool.
///
/// The store runs its connections on a runtime of its own (one thread, `audit-mysql`), so
/// it can be used from any runtime, from several in turn, and from one that has since shut
/// down beside it; the futures it returns need no Tokio context of the caller's.
#[derive(Clone)]
pub struct MySqlStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("tables", &self.inner.sql.names)
            .field("hasher", &self.inner.hasher)
            .finish_non_exhaustive()
    }
}

impl MySqlStore {
    /// Opens a store on the database at `url` with the default [`MySqlOptions`].
    pub async fn connect(url: impl Into<String>) -> Result<Self> {
        Self::connect_with(MySqlOptions::new(url)).await
    }

    /// Opens the store's own pool and applies (or checks) the schema.
    pub async fn connect_with(options: MySqlOptions) -> Result<Self> {
        let runtime = StoreRuntime::start("audit-mysql")?;
        let db = runtime.run(Db::open(&options)).await?;
        let store = Self {
            inner: Arc::new(Inner {
                db,
                sql: Sql::new(options.names.clone()),
                hasher: options.hasher,
                rules: storage_rules(),
                checkpoints: options.checkpoints.clone(),
                verify_parallelism: options.verify_parallelism,
                runtime,
            }),
        };
        let inner = &store.inner;
        store
            .runtime()
            .run(async {
                if options.migrate {
                    migrate::run(&inner.db, &inner.sql).await
                } else {
                    migrate::check(&inner.db, &inner.sql).await
                }
            })
            .await?;
        if let Some(interval) = options
            .checkpoints
            .as_ref()
            .and_then(audit_core::tlog::CheckpointPolicy::interval)
        {
            spawn_checkpoint_timer!(store, interval, Inner, |inner| MySqlStore { inner });
        }
        Ok(store)
    }

    /// The database the tables are in, when it is not the connection URL's.
    pub fn database(&self) -> Option<&str> {
        self.inner.sql.names.database.as_deref()
    }

    /// The prefix of the store's table names.
    pub fn table_prefix(&self) -> &str {
        &self.inner.sql.names.prefix
    }

    /// Appends `events` to the chain in one transaction and returns each event's position.
    ///
    /// All or nothing: on error nothing was committed. Invalid events, and values the
    /// columns cannot hold, are refused before any database work. Events already stored (a
    /// batch retried after a lost acknowledgement) are acknowledged with their stored
    /// positions, not stored again.
    pub async fn append(&self, events: &[AuditEvent]) -> Result<Vec<ChainPosition>> {
        self.runtime()
            .run(crate::append::append(self, events))
            .await
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.runtime().run(self.inner.db.close()).await;
    }

    /// The runtime the store's database work runs on.
    pub(crate) fn runtime(&self) -> &StoreRuntime {
        &self.inner.runtime
    }
}

#[async_trait]
impl ChainWriter for MySqlStore {
    fn rules(&self) -> &StorageRules {
        &self.inner.rules
    }

    async fn append_rows(&self, rows: &mut [Prepared], check: Check) -> Result<Vec<ChainPosition>> {
        let inner = &self.inner;
        let mut tx = inner.db.begin().await?;
        let mut tree = TreeOut::new(inner.checkpoints.as_ref());
        let positions = append(&mut tx, &inner.sql, &inner.hasher, rows, check, &mut tree).await?;
        tx.commit().await?;
        tree.publish();
        Ok(positions)
    }

    async fn finish(&self) -> Result<()> {
        // A last signed checkpoint covers the tail the policy had not reached yet.
        sign_and_publish(self, self.inner.checkpoints.as_ref()).await?;
        Ok(())
    }
}

audit_sink_through_append!(MySqlStore);

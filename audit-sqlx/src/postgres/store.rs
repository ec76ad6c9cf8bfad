//! [`PgStore`]: the pool, the options, and the write side ([`AuditSink`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use audit_core::chain::Parallelism;
use audit_core::tlog::CheckpointPolicy;
use audit_core::{AuditEvent, ChainHasher, ChainPosition};
use sqlx_postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::encode::PG_RULES;
use super::migrate;
use super::schema::{SchemaName, Sql};
use super::write::{InsertMode, append};
use crate::append::{ChainWriter, Check, audit_sink_through_append};
use crate::error::Result;
use crate::options::store_options;
use crate::prepared::{Prepared, StorageRules};
use crate::runtime::StoreRuntime;
use crate::tree::{TreeOut, sign_and_publish, spawn_checkpoint_timer};

/// How to open a [`PgStore`].
///
/// ```
/// use audit_sqlx::PgOptions;
///
/// let options = PgOptions::new("postgres://audit_app@db.internal/app")
///     .schema("audit")
///     .expect("a plain lowercase name")
///     .max_connections(4);
/// assert_eq!(options.schema_name().as_str(), "audit");
/// ```
#[derive(Debug, Clone)]
pub struct PgOptions {
    url: String,
    schema: SchemaName,
    hasher: ChainHasher,
    max_connections: u32,
    acquire_timeout: Duration,
    migrate: bool,
    insert_mode: InsertMode,
    idle_in_transaction_timeout: Duration,
    checkpoints: Option<CheckpointPolicy>,
    verify_parallelism: Parallelism,
}

impl PgOptions {
    /// Options for the database at `url` (`postgres://user@host:port/db`), schema `audit`,
    /// SHA-256 chain, 4 connections, migrations applied on connect.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: SchemaName::default(),
            hasher: ChainHasher::sha256(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
            migrate: true,
            insert_mode: InsertMode::default(),
            idle_in_transaction_timeout: Duration::from_secs(60),
            checkpoints: None,
            verify_parallelism: Parallelism::available(),
        }
    }

    /// The schema holding the audit tables (created if missing). Only `[a-z_][a-z0-9_]*`,
    /// at most 63 bytes, not starting with `pg_`.
    pub fn schema(mut self, name: &str) -> Result<Self> {
        self.schema = SchemaName::new(name)?;
        Ok(self)
    }

    /// The configured schema.
    pub fn schema_name(&self) -> &SchemaName {
        &self.schema
    }

    store_options!();

    /// The server ends a session of this store that sits idle inside a transaction for longer
    /// than this (default 60 s), so a writer that hangs while holding the chain head lock
    /// (a frozen process, a lost network) cannot stall every other writer for long.
    pub fn idle_in_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.idle_in_transaction_timeout = timeout;
        self
    }

    /// How batches are inserted (default binary `COPY`, the faster one in the bench).
    pub fn insert_mode(mut self, mode: InsertMode) -> Self {
        self.insert_mode = mode;
        self
    }
}

pub(crate) struct Inner {
    pub pool: PgPool,
    pub sql: Sql,
    pub hasher: ChainHasher,
    pub insert_mode: InsertMode,
    pub checkpoints: Option<CheckpointPolicy>,
    pub verify_parallelism: Parallelism,
    /// Declared last so it is dropped after the pool, whose connections live on it.
    pub runtime: StoreRuntime,
}

/// The PostgreSQL audit store: an [`AuditSink`] that appends to one hash chain shared by every
/// writer, and an [`AuditStore`](audit_core::AuditStore) for queries and verification.
///
/// Cloning is cheap and shares the pool.
///
/// The store runs its connections on a runtime of its own (one thread, `audit-pg`), so it
/// can be used from any runtime, from several in turn, and from one that has since shut down
/// beside it (the pipeline's writer thread, then the application's runtime); the futures it
/// returns need no Tokio context of the caller's.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.inner.sql.schema)
            .field("hasher", &self.inner.hasher)
            .field("insert_mode", &self.inner.insert_mode)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` with the default [`PgOptions`].
    pub async fn connect(url: impl Into<String>) -> Result<Self> {
        Self::connect_with(PgOptions::new(url)).await
    }

    /// Opens the store's own pool and applies (or checks) the schema.
    pub async fn connect_with(options: PgOptions) -> Result<Self> {
        let runtime = StoreRuntime::start("audit-pg")?;
        let pool = runtime.run(Self::open_pool(&options)).await?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                sql: Sql::new(options.schema.clone()),
                hasher: options.hasher,
                insert_mode: options.insert_mode,
                checkpoints: options.checkpoints.clone(),
                verify_parallelism: options.verify_parallelism,
                runtime,
            }),
        };
        let pool = &store.inner.pool;
        store
            .runtime()
            .run(async {
                if options.migrate {
                    migrate::run(pool, &options.schema).await
                } else {
                    migrate::check(pool, &options.schema).await
                }
            })
            .await?;
        if let Some(interval) = options
            .checkpoints
            .as_ref()
            .and_then(CheckpointPolicy::interval)
        {
            spawn_checkpoint_timer!(store, interval, Inner, |inner| PgStore { inner });
        }
        Ok(store)
    }

    async fn open_pool(options: &PgOptions) -> Result<PgPool> {
        let connect: PgConnectOptions = options.url.parse()?;
        let idle_ms = options.idle_in_transaction_timeout.as_millis().max(1);
        let connect = connect.options([(
            "idle_in_transaction_session_timeout",
            format!("{idle_ms}ms"),
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(pool)
    }

    /// The schema this store reads and writes.
    pub fn schema(&self) -> &SchemaName {
        &self.inner.sql.schema
    }

    /// The store's own pool (for admin tasks; the store never uses a caller's connection).
    /// Connections it opens outside the store's own methods live on the caller's runtime.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The runtime the store's database work runs on.
    pub(crate) fn runtime(&self) -> &StoreRuntime {
        &self.inner.runtime
    }

    /// Appends `events` to the chain in one transaction and returns each event's position.
    ///
    /// All or nothing: on error nothing was committed. Invalid events are refused before any
    /// database work. Events already stored (a batch retried after a lost acknowledgement)
    /// are acknowledged with their stored positions, not stored again.
    pub async fn append(&self, events: &[AuditEvent]) -> Result<Vec<ChainPosition>> {
        self.runtime()
            .run(crate::append::append(self, events))
            .await
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.runtime().run(self.inner.pool.close()).await;
    }
}

#[async_trait]
impl ChainWriter for PgStore {
    fn rules(&self) -> &StorageRules {
        &PG_RULES
    }

    async fn append_rows(&self, rows: &mut [Prepared], check: Check) -> Result<Vec<ChainPosition>> {
        let inner = &self.inner;
        let mut tx = inner.pool.begin().await?;
        let mut tree = TreeOut::new(inner.checkpoints.as_ref());
        let positions = append(
            &mut tx,
            &inner.sql,
            &inner.hasher,
            inner.insert_mode,
            rows,
            check,
            &mut tree,
        )
        .await?;
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

audit_sink_through_append!(PgStore);

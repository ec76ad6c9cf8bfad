//! [`MySqlOptions`]: how to open a [`MySqlStore`](super::MySqlStore).

use std::time::Duration;

use audit_core::ChainHasher;

use super::names::{DATABASE_NAME, Names, TABLE_PREFIX};
use crate::error::Result;
use crate::options::store_options;

/// How to open a [`MySqlStore`](super::MySqlStore).
///
/// ```
/// use audit_sqlx::MySqlOptions;
///
/// let options = MySqlOptions::new("mysql://audit_app:secret@db.internal/app")
///     .table_prefix("audit_")
///     .expect("a plain lowercase name")
///     .max_connections(4);
/// assert_eq!(options.table_prefix_name(), "audit_");
/// ```
#[derive(Debug, Clone)]
pub struct MySqlOptions {
    pub(crate) url: String,
    pub(crate) names: Names,
    pub(crate) hasher: ChainHasher,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) migrate: bool,
    pub(crate) lock_wait_timeout: Duration,
    pub(crate) idle_in_transaction_timeout: Duration,
    pub(crate) checkpoints: Option<audit_core::tlog::CheckpointPolicy>,
    pub(crate) verify_parallelism: audit_core::chain::Parallelism,
}

impl MySqlOptions {
    /// Options for the server at `url` (`mysql://user:password@host:port/database`): tables
    /// `audit_*` in the URL's database, SHA-256 chain, 4 connections, migrations applied on
    /// connect.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            names: Names::default(),
            hasher: ChainHasher::sha256(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
            migrate: true,
            lock_wait_timeout: Duration::from_secs(50),
            idle_in_transaction_timeout: Duration::from_secs(60),
            checkpoints: None,
            verify_parallelism: audit_core::chain::Parallelism::available(),
        }
    }

    /// Keeps the tables in this database instead of the URL's (created if missing when
    /// migrations run). Only `[a-z_][a-z0-9_]*`, at most 64 bytes.
    pub fn database(mut self, name: &str) -> Result<Self> {
        self.names.database = Some(DATABASE_NAME.check(name)?);
        Ok(self)
    }

    /// Names the tables `<prefix>events`, `<prefix>chain_head`, ... (default `audit_`).
    /// Only `[a-z_][a-z0-9_]*`, at most 47 bytes.
    pub fn table_prefix(mut self, prefix: &str) -> Result<Self> {
        self.names.prefix = TABLE_PREFIX.check(prefix)?;
        Ok(self)
    }

    /// The configured table prefix.
    pub fn table_prefix_name(&self) -> &str {
        &self.names.prefix
    }

    /// The configured database, when not the URL's.
    pub fn database_name(&self) -> Option<&str> {
        self.names.database.as_deref()
    }

    store_options!();

    /// How long a write waits for the chain head lock before it fails with a transient error
    /// that the pipeline retries (`innodb_lock_wait_timeout` of the store's sessions, whole
    /// seconds, default 50 s).
    pub fn lock_wait_timeout(mut self, timeout: Duration) -> Self {
        self.lock_wait_timeout = timeout;
        self
    }

    /// MariaDB ends a session of this store that sits idle inside a transaction for longer
    /// than this (`idle_transaction_timeout`, whole seconds, default 60 s), so a writer that
    /// hangs while holding the chain head lock cannot stall every other writer for long.
    /// MySQL has no such setting; there, [`lock_wait_timeout`](Self::lock_wait_timeout) bounds
    /// how long the others wait.
    pub fn idle_in_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.idle_in_transaction_timeout = timeout;
        self
    }
}

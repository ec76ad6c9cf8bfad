//! The [`Setup`](crate::Setup)s of the stores, each behind its feature, that
//! [`init`](crate::init) starts.

#[cfg(feature = "sqlite")]
pub use sqlite_setup::{sqlite, sqlite_with};

#[cfg(feature = "sqlite")]
mod sqlite_setup {
    use std::path::Path;

    use audit_sqlite::{SqliteOptions, SqliteStore};

    use crate::init::Setup;

    /// A SQLite store in the file at `path` (created if missing), with the default
    /// [`SqliteOptions`]; see [`sqlite_with`].
    pub fn sqlite(path: impl AsRef<Path>) -> Setup<SqliteStore> {
        sqlite_with(SqliteOptions::new(path))
    }

    /// A SQLite store opened with `options`. Batches the store cannot take (a locked or full
    /// disk) are spooled in a directory beside the file, `<file>-spool`, and replayed in
    /// order, also after a restart.
    ///
    /// ```
    /// use audit::{AuditEvent, AuditStore, ChainHasher, SqliteOptions};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("audit.db");
    /// let key = ChainHasher::hmac_sha256(b"key from your secret store");
    /// let audit = audit::init(audit::sqlite_with(SqliteOptions::new(&path).hasher(key)))?;
    ///
    /// audit::record(AuditEvent::builder("AUTHN_LOGIN_SUCCESS").build());
    /// let receipt = audit
    ///     .auditor()
    ///     .record_durable(AuditEvent::builder("FTMS_BOOKING_CREATED").build())
    ///     .await?;
    /// assert_eq!(receipt.position.map(|p| p.seq), Some(2));
    ///
    /// audit.shutdown().await?;
    /// assert!(audit.store().verify(Default::default(), None).await?.is_valid());
    /// # Ok(()) }
    /// ```
    pub fn sqlite_with(options: SqliteOptions) -> Setup<SqliteStore> {
        let mut spool = options.path().as_os_str().to_owned();
        spool.push("-spool");
        Setup::opening(move || SqliteStore::open_with(options).map_err(Into::into)).spool_dir(spool)
    }
}

//! Read-only connections for queries, verification and export, reused across calls.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::schema;

/// A small pool of read-only connections. SQLite in WAL mode lets them read while the
/// writer writes; each call sees one consistent snapshot.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    cache_kib: u32,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(
        path: PathBuf,
        busy_timeout: Duration,
        cache_kib: u32,
        max_idle: usize,
    ) -> Self {
        Self {
            path,
            busy_timeout,
            cache_kib,
            max_idle,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The database file.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// How long a connection waits for a lock.
    pub(crate) fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// A new read-only connection, outside the pool.
    pub(crate) fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| schema::open_error(&self.path, e))?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update(None, "cache_size", -i64::from(self.cache_kib))?;
        Ok(conn)
    }

    /// Runs `f` on an idle connection (or a new one) and returns the connection to the pool.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(&mut conn);
        // A connection left inside a transaction (an error mid-read) is not reused.
        if conn.is_autocommit() {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
        result
    }
}

/// Runs blocking work off the async runtime's worker threads (inline when there is no
/// runtime, so the store also works from plain threads).
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(f)
            .await
            .map_err(|e| Error::Task(e.to_string()))?,
        Err(_) => f(),
    }
}

//! Several read connections on one snapshot of the file.
//!
//! SQLite can hand a snapshot from one connection to another only through
//! `sqlite3_snapshot_open`, which needs a build flag the bundled library does not set. So the
//! writers are held off for the moment it takes to begin the read transactions instead:
//! [`WriterPause`] takes the write lock (`BEGIN IMMEDIATE`), each connection begins its read
//! transaction and reads ([`begin_read`]), and the pause ends. No commit can fall between
//! those first reads, whichever process writes to the file, so every connection sees the
//! same state of the log until its transaction ends.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::Result;

/// The write lock of the file, held so that no commit lands while read transactions begin.
/// Released when dropped.
#[derive(Debug)]
pub(crate) struct WriterPause {
    conn: Connection,
}

impl WriterPause {
    /// Takes the write lock, waiting up to `busy_timeout` for a writer that holds it. `None`
    /// when it cannot be had: a read-only file or directory, or a write that outlasted the
    /// wait. Callers then read on one connection instead.
    pub(crate) fn take(path: &Path, busy_timeout: Duration) -> Option<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ok()?;
        conn.busy_timeout(busy_timeout).ok()?;
        conn.execute_batch("BEGIN IMMEDIATE").ok()?;
        Some(Self { conn })
    }
}

impl Drop for WriterPause {
    fn drop(&mut self) {
        // Nothing was written. Should the rollback fail, closing the connection (right
        // after this) ends the transaction all the same.
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

/// Fixes the snapshot of `conn`'s open transaction: SQLite takes it at the transaction's
/// first read, not at `BEGIN`.
pub(crate) fn first_read(conn: &Connection) -> Result<()> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    Ok(())
}

/// Begins a read transaction on `conn` and fixes its snapshot.
pub(crate) fn begin_read(conn: &Connection) -> Result<()> {
    conn.execute_batch("BEGIN")?;
    first_read(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);",
        )
        .expect("schema");
        (dir, path)
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count")
    }

    #[test]
    fn readers_begun_under_a_pause_share_the_state_a_later_commit_does_not_reach() {
        let (_dir, path) = file();
        let writer = Connection::open(&path).expect("writer");
        let pause = WriterPause::take(&path, Duration::from_secs(5)).expect("the lock");
        // A writer cannot commit while the pause holds the lock.
        writer.busy_timeout(Duration::ZERO).expect("timeout");
        assert!(writer.execute("INSERT INTO t VALUES (2)", []).is_err());
        let (a, b) = (
            Connection::open(&path).expect("a"),
            Connection::open(&path).expect("b"),
        );
        begin_read(&a).expect("a reads");
        begin_read(&b).expect("b reads");
        drop(pause);
        writer
            .execute("INSERT INTO t VALUES (3)", [])
            .expect("commit after the pause");
        assert_eq!((count(&a), count(&b)), (1, 1));
        assert_eq!(count(&writer), 2);
    }

    #[test]
    fn a_lock_held_elsewhere_past_the_wait_gives_no_pause() {
        let (_dir, path) = file();
        let holder = Connection::open(&path).expect("holder");
        holder.execute_batch("BEGIN IMMEDIATE").expect("lock");
        assert!(WriterPause::take(&path, Duration::from_millis(10)).is_none());
        holder.execute_batch("ROLLBACK").expect("unlock");
        assert!(WriterPause::take(&path, Duration::from_millis(10)).is_some());
    }
}

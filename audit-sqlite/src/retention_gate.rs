//! The only way a row of `audit_events` can be deleted: archival, on this process's writer
//! connection.
//!
//! The delete trigger asks the SQL function `audit_append_only_retention_gate()` how far deletes are
//! allowed. The function exists only on the writer connections this library opens, and
//! answers "nothing" except while an archival runs, inside the archival's own transaction.
//! So no SQL can open the gate: not an `INSERT` into a table (the gate of schema 3 was a
//! table, and one `INSERT` disabled the trigger), and not another connection (there the
//! function does not exist and the `DELETE` fails).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::error::Result;

/// The name of the gate function the delete trigger calls.
pub(crate) const FUNCTION: &str = "audit_append_only_retention_gate";

/// Closed: no `seq` is at or below it.
const CLOSED: i64 = -1;

/// The gate of one writer connection.
#[derive(Debug, Clone)]
pub(crate) struct RetentionGate {
    upto: Arc<AtomicI64>,
}

impl RetentionGate {
    /// Registers the gate function on `conn`, closed.
    pub(crate) fn install(conn: &Connection) -> Result<Self> {
        let upto = Arc::new(AtomicI64::new(CLOSED));
        let seen = Arc::clone(&upto);
        conn.create_scalar_function(FUNCTION, 0, FunctionFlags::SQLITE_UTF8, move |_| {
            Ok(seen.load(Ordering::SeqCst))
        })?;
        Ok(Self { upto })
    }

    /// Allows deleting `seq <= upto` until the returned guard is dropped.
    pub(crate) fn open(&self, upto: i64) -> Opened<'_> {
        self.upto.store(upto, Ordering::SeqCst);
        Opened(self)
    }
}

/// Closes the gate when dropped, however the archival ends.
pub(crate) struct Opened<'a>(&'a RetentionGate);

impl Drop for Opened<'_> {
    fn drop(&mut self) {
        self.0.upto.store(CLOSED, Ordering::SeqCst);
    }
}

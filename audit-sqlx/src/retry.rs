//! Which database errors are worth retrying, for every backend: the one classification the
//! pipeline's retry (through [`SinkError`](audit_core::SinkError)) and the stores rely on.

use sqlx_core::error::DatabaseError;

use crate::error::Error;

/// Whether `err` may go away on its own: connection trouble, a pool that is full or closing,
/// or a server error of a transient kind (see [`is_transient_server_error`]).
pub(crate) fn is_transient(err: &sqlx_core::Error) -> bool {
    use sqlx_core::Error as E;
    match err {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Protocol(_) => true,
        E::Database(db) => is_transient_server_error(db.as_ref()),
        _ => false,
    }
}

/// SQLSTATE classes that mean "try again": 08 connection exception, 40 transaction rollback
/// (serialization failure, deadlock), and for PostgreSQL 53 insufficient resources and 57
/// operator intervention (shutdown).
const TRANSIENT_SQLSTATE_CLASSES: &[&str] = &["08", "40", "53", "57"];

/// MySQL/MariaDB error numbers that are transient although their SQLSTATE is the catch-all
/// `HY000`: 1040 too many connections, 1041 out of memory, 1053 server shutdown, 1205 lock
/// wait timeout (another writer held the chain head too long), 1213 deadlock, 1317 query
/// interrupted, 1927 connection killed (MariaDB), 1969 statement timeout (MariaDB), 3024
/// statement timeout (MySQL), 4031 disconnected for inactivity (MySQL).
#[cfg(feature = "mysql")]
const TRANSIENT_MYSQL_ERRORS: &[u16] =
    &[1040, 1041, 1053, 1205, 1213, 1317, 1927, 1969, 3024, 4031];

fn is_transient_server_error(db: &dyn DatabaseError) -> bool {
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx_mysql::MySqlDatabaseError>()
        && TRANSIENT_MYSQL_ERRORS.contains(&my.number())
    {
        return true;
    }
    db.code().is_some_and(|code| {
        TRANSIENT_SQLSTATE_CLASSES
            .iter()
            .any(|class| code.starts_with(class))
    })
}

/// Whether `err` is a unique-key violation: a batch held an event (or a seq) that is already
/// stored, and is to be retried in a new transaction that looks the stored ones up first.
pub(crate) fn is_duplicate_key(err: &Error) -> bool {
    matches!(err, Error::Database(sqlx_core::Error::Database(db)) if db.is_unique_violation())
}

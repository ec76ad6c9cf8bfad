//! The outbox's row format, shared by every backend: what a row holds, how a service that
//! uses another driver (another sqlx major, `tokio-postgres`, `diesel`, `mysql_async`) writes
//! one ([`OutboxInsert`]), and how the relay reads one back.

use audit_core::AuditEvent;

use crate::error::{Error, Result};
use crate::prepared::{Prepared, StorageRules};

/// One outbox row, ready for a driver other than this crate's: execute
/// [`statement`](Self::statement) inside the caller's own transaction with
/// [`event_json`](Self::event_json) as its one text parameter. The event joins the chain when
/// a relay of the store runs after that transaction commits, exactly as with the store's
/// `record_in`.
///
/// The statement names the store's own table and uses the backend's placeholder (`$1` for
/// PostgreSQL, `?` for MySQL); the parameter is the event's JSON form (audit-core's serde
/// form), validated and normalised the way the store would store it.
///
/// ```
/// # #[cfg(feature = "postgres")]
/// # async fn demo(store: &audit_sqlx::PgStore) -> audit_sqlx::Result<()> {
/// let insert = store.outbox_insert(&audit_core::AuditEvent::builder("FTMS_BOOKING_CREATED").build())?;
/// // With your own driver, inside your transaction, e.g. tokio-postgres:
/// // tx.execute(&insert.statement, &[&insert.event_json]).await?;
/// assert!(insert.statement.contains("audit_outbox"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxInsert {
    /// The SQL statement, with one text parameter.
    pub statement: String,
    /// The value of that parameter: the event as JSON.
    pub event_json: String,
}

impl OutboxInsert {
    /// Validates `event` under `rules` and pairs its JSON with `statement`.
    pub(crate) fn new(statement: &str, event: &AuditEvent, rules: &StorageRules) -> Result<Self> {
        let prepared = Prepared::new(event, rules)?;
        let event_json = serde_json::to_string(&prepared.event)
            .map_err(|err| Error::Metadata(err.to_string()))?;
        Ok(Self {
            statement: statement.to_owned(),
            event_json,
        })
    }
}

/// Reads an outbox row's text back as an event ready to chain. A row that is not an event
/// this library can store (written by hand, or by a service that got the format wrong) is an
/// error naming the reason; the relay moves such rows aside rather than stop on them.
pub(crate) fn read_row(text: &str, rules: &StorageRules) -> Result<Prepared> {
    serde_json::from_str::<AuditEvent>(text)
        .map_err(|err| Error::Corrupt {
            seq: 0,
            message: format!("not an audit event: {err}"),
        })
        .and_then(|event| Prepared::new(&event, rules))
}

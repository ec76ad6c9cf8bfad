//! The listing's rows: keyset pages of the report's query, read on the async side and
//! handed to a blocking writer thread, so memory holds at most a few pages and reading the
//! store overlaps with encoding the file.

use audit_core::query::{MAX_PAGE_SIZE, Order};
use audit_core::{AuditStore, StoredEvent};
use tokio::sync::mpsc;

use crate::error::{ReportError, Result};
use crate::model::Report;

/// Pages in flight between the reader and the writer.
const PAGES_IN_FLIGHT: usize = 2;

/// Something told how far a report has come: called with the number of listed rows so far.
pub trait Progress: Send + Sync {
    /// `done` rows of the listing were read.
    fn rows(&self, done: u64);
}

impl Progress for () {
    fn rows(&self, _: u64) {}
}

impl<F: Fn(u64) + Send + Sync> Progress for F {
    fn rows(&self, done: u64) {
        self(done)
    }
}

/// Streams every listed event of `report` (oldest first, up to the range's last seq) to a
/// blocking thread that makes its state with `init`, feeds it each event with `each`, and
/// ends with `finish` (given the row count); returns what `finish` returned and the count.
/// The state never crosses threads, so it need not be `Send` (krilla's document is not).
///
/// Dropping the returned future stops the reading; the writer thread then sees the end of
/// the rows, and `finish` runs on what it got: callers that must not leave partial output
/// (the command line) write to a temporary file they discard.
pub(crate) async fn stream<S, T, R>(
    store: &S,
    report: &Report,
    progress: &dyn Progress,
    init: impl FnOnce() -> Result<T> + Send + 'static,
    mut each: impl FnMut(&mut T, &StoredEvent) -> Result<()> + Send + 'static,
    finish: impl FnOnce(T, u64) -> Result<R> + Send + 'static,
) -> Result<(R, u64)>
where
    S: AuditStore + ?Sized,
    R: Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Vec<StoredEvent>>(PAGES_IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || {
        let mut state = init()?;
        let mut written = 0u64;
        while let Some(page) = rx.blocking_recv() {
            for record in &page {
                each(&mut state, record)?;
                written += 1;
            }
        }
        Ok::<_, ReportError>((finish(state, written)?, written))
    });
    let read = read_pages(store, report, progress, tx).await;
    let written = writer
        .await
        .map_err(|err| ReportError::Task(err.to_string()))?;
    // A writer error makes the reader stop early (its channel closes): report the cause.
    // A reader error ends the rows early: the writer's result is then discarded.
    let result = written?;
    read?;
    Ok(result)
}

async fn read_pages<S: AuditStore + ?Sized>(
    store: &S,
    report: &Report,
    progress: &dyn Progress,
    tx: mpsc::Sender<Vec<StoredEvent>>,
) -> Result<()> {
    let Some(range) = report.range else {
        return Ok(());
    };
    let mut query = report
        .query
        .clone()
        .order(Order::OldestFirst)
        .limit(MAX_PAGE_SIZE);
    let mut done = 0u64;
    loop {
        let page = store.query(&query).await?;
        let mut events = page.events;
        let reached_end = events.last().is_none_or(|e| e.seq >= range.last);
        events.retain(|e| e.seq <= range.last);
        done += events.len() as u64;
        if !events.is_empty() && tx.send(events).await.is_err() {
            return Ok(()); // the writer stopped; it reports why
        }
        progress.rows(done);
        match page.next {
            Some(cursor) if !reached_end => query = query.after(cursor),
            _ => return Ok(()),
        }
    }
}

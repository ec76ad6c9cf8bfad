//! The writer: one thread owns the only writing connection and takes [`Command`]s.
//!
//! The same shape as `sqlx-sqlite`'s worker: callers send a command with a oneshot reply
//! channel and await the reply, so the async runtime never blocks on SQLite and the
//! caller's own connections and transactions are never involved.

use std::thread;

use audit_core::{AuditEvent, ChainHasher, ChainPosition};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::archive::{self, ArchiveRequest};
use crate::chain_append::{append, append_valid, validate};
use crate::error::{Error, Result};
use crate::retention_gate::RetentionGate;
use audit_core::archive::ArchiveReport;

/// What the writer thread can be asked to do.
pub(crate) enum Command {
    /// Append a batch in one transaction.
    Append {
        events: Vec<AuditEvent>,
        reply: oneshot::Sender<Result<Vec<ChainPosition>>>,
    },
    /// Archive and delete a prefix of the chain.
    Archive {
        request: ArchiveRequest,
        reply: oneshot::Sender<Result<ArchiveReport>>,
    },
    /// Copy the WAL into the main file.
    Checkpoint { reply: oneshot::Sender<Result<()>> },
}

/// How many commands may wait for the writer: callers past that wait (asynchronously) for
/// room, so a burst of appends holds bounded memory however slow the disk is.
const COMMAND_CAPACITY: usize = 256;

/// The sending side; dropping the last handle stops the thread.
#[derive(Debug)]
pub(crate) struct WriterHandle {
    commands: mpsc::Sender<Command>,
}

impl WriterHandle {
    /// Starts the writer thread with an already prepared connection.
    pub(crate) fn spawn(conn: Connection, hasher: ChainHasher) -> Result<Self> {
        let (commands, mut receiver) = mpsc::channel(COMMAND_CAPACITY);
        let gate = RetentionGate::install(&conn)?;
        let mut writer = Writer {
            conn,
            hasher,
            gate,
            since_optimize: 0,
        };
        thread::Builder::new()
            .name("audit-sqlite-writer".into())
            .spawn(move || {
                let mut next = None;
                while let Some(command) = next.take().or_else(|| receiver.blocking_recv()) {
                    match command {
                        Command::Append { events, reply } => {
                            let mut group = vec![(events, reply)];
                            next = gather(&mut receiver, &mut group);
                            writer.append_group(group);
                        }
                        other => writer.handle(other),
                    }
                }
            })?;
        Ok(Self { commands })
    }

    /// Sends a command and waits for its reply.
    pub(crate) async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| Error::WriterStopped)?;
        answer.await.map_err(|_| Error::WriterStopped)?
    }
}

/// At most this many events are committed together by group commit.
const GROUP_MAX_EVENTS: usize = 16_384;

type AppendRequest = (Vec<AuditEvent>, oneshot::Sender<Result<Vec<ChainPosition>>>);

/// Group commit: takes the appends already waiting behind the first one (never waits for
/// more), up to [`GROUP_MAX_EVENTS`]. Returns the first other command it took, to be handled
/// after the group so commands keep their order.
fn gather(
    receiver: &mut mpsc::Receiver<Command>,
    group: &mut Vec<AppendRequest>,
) -> Option<Command> {
    let mut total: usize = group.iter().map(|(events, _)| events.len()).sum();
    while total < GROUP_MAX_EVENTS {
        match receiver.try_recv() {
            Ok(Command::Append { events, reply }) => {
                total += events.len();
                group.push((events, reply));
            }
            Ok(other) => return Some(other),
            Err(_) => return None,
        }
    }
    None
}

struct Writer {
    conn: Connection,
    hasher: ChainHasher,
    /// The only way to delete events (archival): see `retention_gate`.
    gate: RetentionGate,
    /// Events appended since the planner statistics were last refreshed.
    since_optimize: usize,
}

/// Refresh the planner statistics after this many appended events.
const OPTIMIZE_EVERY: usize = 100_000;

/// Lets SQLite refresh `sqlite_stat1` when a table grew a lot, on a bounded sample: without
/// statistics the planner cannot tell a selective index (an actor) from a broad one (one
/// of ten actions) and picks badly at millions of rows.
pub(crate) fn optimize(conn: &Connection) {
    if let Err(err) =
        conn.execute_batch("PRAGMA analysis_limit = 10000; PRAGMA optimize = 0x10002;")
    {
        tracing::debug!(%err, "audit-sqlite could not refresh planner statistics");
    }
}

impl Writer {
    /// Commits the appends of `group` in one transaction when more than one is waiting (one
    /// fsync instead of one each), replying to each with its own positions. If the group
    /// fails, each append is retried alone so an error reaches only the caller it belongs to.
    fn append_group(&mut self, mut group: Vec<AppendRequest>) {
        if group.len() == 1 {
            if let Some((events, reply)) = group.pop() {
                self.append_one(events, reply);
            }
            return;
        }
        let valid = group.iter().all(|(events, _)| validate(events).is_ok());
        let lengths: Vec<usize> = group.iter().map(|(events, _)| events.len()).collect();
        let all: Vec<AuditEvent> = group
            .iter_mut()
            .flat_map(|(events, _)| std::mem::take(events))
            .collect();
        let result = if valid {
            append_valid(&mut self.conn, &self.hasher, &all)
        } else {
            Err(Error::InvalidRequest(
                "a batch of the group is invalid".into(),
            ))
        };
        match result {
            Ok(positions) => {
                self.since_optimize += all.len();
                let mut positions = positions.into_iter();
                for ((_, reply), len) in group.into_iter().zip(lengths) {
                    let _ = reply.send(Ok(positions.by_ref().take(len).collect()));
                }
                self.maybe_optimize();
            }
            Err(_) => {
                let mut all = all.into_iter();
                for ((_, reply), len) in group.into_iter().zip(lengths) {
                    self.append_one(all.by_ref().take(len).collect(), reply);
                }
            }
        }
    }

    fn append_one(
        &mut self,
        events: Vec<AuditEvent>,
        reply: oneshot::Sender<Result<Vec<ChainPosition>>>,
    ) {
        let result = append(&mut self.conn, &self.hasher, &events);
        if result.is_ok() {
            self.since_optimize += events.len();
        }
        let _ = reply.send(result);
        self.maybe_optimize();
    }

    fn maybe_optimize(&mut self) {
        if self.since_optimize >= OPTIMIZE_EVERY {
            self.since_optimize = 0;
            optimize(&self.conn);
        }
    }

    fn handle(&mut self, command: Command) {
        // A dropped receiver means the caller gave up waiting; the work is done either way.
        match command {
            Command::Append { events, reply } => self.append_one(events, reply),
            Command::Archive { request, reply } => {
                let result = archive::run(&mut self.conn, &self.hasher, &self.gate, &request);
                let _ = reply.send(result);
            }
            Command::Checkpoint { reply } => {
                let result = self
                    .conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .map_err(Error::from);
                let _ = reply.send(result);
            }
        }
    }
}

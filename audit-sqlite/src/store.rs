//! [`SqliteStore`]: the handle users hold; it is the sink and the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use audit_core::chain::{Checkpoint, Parallelism, VerifyReport};
use audit_core::query::{AuditQuery, CountBy, GroupCount, Page};
use audit_core::store::VerifyScope;
use audit_core::tlog::{SignedCheckpoint, TransparencyLog, TreeRow};
use audit_core::{
    AuditEvent, AuditSink, AuditStore, BatchAck, ChainHasher, ChainPosition, SinkError, StoreError,
    StoredEvent,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::archive::ArchiveRequest;
use crate::bucket_filter::BucketFilters;
use crate::error::Result;
use crate::options::SqliteOptions;
use crate::reader::{Readers, blocking};
use crate::writer::{Command, WriterHandle};
use crate::{chain_append, query, schema, tree, verify, writer};
use audit_core::archive::ArchiveReport;

/// An audit log in one SQLite file: an [`AuditSink`] for the
/// `Auditor` (crate `audit-pipeline`) and an [`AuditStore`] for admins.
///
/// Cloning is cheap and shares the writer thread and the reader connections; the writer
/// thread stops when the last clone is dropped. See the [crate documentation](crate).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    path: PathBuf,
    hasher: ChainHasher,
    verify_parallelism: Parallelism,
    writer: WriterHandle,
    readers: Readers,
    filters: BucketFilters,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with the default [`SqliteOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(SqliteOptions::new(path))
    }

    /// Opens (creating if needed) the store described by `options`.
    ///
    /// Fails with [`Error::NotADatabase`](crate::Error::NotADatabase) for a file that is not SQLite,
    /// [`Error::Foreign`](crate::Error::Foreign) for SQLite tables this library did not create,
    /// [`Error::SchemaTooNew`](crate::Error::SchemaTooNew) for a file from a newer version, and
    /// [`Error::HasherMismatch`](crate::Error::HasherMismatch) when `options`'s hasher is not the store's. An older schema
    /// is upgraded in place.
    pub fn open_with(options: SqliteOptions) -> Result<Self> {
        let path = options.path.clone();
        let mut conn = open_writer(&options)?;
        schema::prepare(&mut conn, &path, &options.hasher)?;
        writer::optimize(&conn);
        let writer =
            WriterHandle::spawn(conn, options.hasher.clone(), options.checkpoints.clone())?;
        let readers = Readers::new(
            path.clone(),
            options.busy_timeout,
            options.reader_cache_kib,
            options.max_idle_readers,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                hasher: options.hasher,
                verify_parallelism: options.verify_parallelism,
                writer,
                readers,
                filters: BucketFilters::default(),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The chain hasher this store writes and verifies with.
    pub fn hasher(&self) -> &ChainHasher {
        &self.inner.hasher
    }

    /// Appends a batch in one transaction and returns each event's chain position.
    ///
    /// This is what [`AuditSink::write`] does; it is public for tools that write without
    /// an `Auditor` (crate `audit-pipeline`).
    pub async fn append(&self, events: &[AuditEvent]) -> Result<Vec<ChainPosition>> {
        let events = events.to_vec();
        self.inner
            .writer
            .call(|reply| Command::Append { events, reply })
            .await
    }

    /// Moves every event older than `before` (a prefix of the chain: it stops at the first
    /// event at or after `before`) into a new JSON Lines archive at `path`, then removes
    /// them through the store's only delete path and records an
    /// [`AUDIT_ARCHIVED`](crate::ARCHIVED_ACTION) event naming the range and the file's
    /// SHA-256. The live chain then verifies from its new first event and the archive
    /// verifies alone with [`verify_archive`](crate::verify_archive).
    ///
    /// The archived range is verified while it is written; a broken chain is refused
    /// ([`Error::ChainBroken`](crate::Error::ChainBroken)) rather than deleted. `path` must not exist yet.
    pub async fn archive(
        &self,
        before: DateTime<Utc>,
        path: impl Into<PathBuf>,
    ) -> Result<ArchiveReport> {
        let request = ArchiveRequest {
            before,
            path: path.into(),
        };
        self.inner
            .writer
            .call(|reply| Command::Archive { request, reply })
            .await
    }

    /// Copies the write-ahead log into the main file (SQLite also does this on its own).
    pub async fn checkpoint_wal(&self) -> Result<()> {
        self.inner
            .writer
            .call(|reply| Command::Checkpoint { reply })
            .await
    }

    /// Calls `each` for every record matching `query` in its order (from its cursor on,
    /// ignoring the page size) on one consistent snapshot, holding one record at a time.
    /// Blocking: call it from a blocking context. Returns how many records there were.
    pub fn for_each_blocking(
        &self,
        query: &AuditQuery,
        each: impl FnMut(&StoredEvent) -> Result<()>,
    ) -> Result<u64> {
        self.inner.readers.with(|conn| {
            let tx = conn.transaction()?;
            let n = query::scan(&tx, query, &self.inner.filters, each)?;
            tx.finish()?;
            Ok(n)
        })
    }

    /// Runs `f` on a reader connection, off the async runtime.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.readers.with(|conn| f(conn, &inner))).await
    }

    /// Verifies the chain (see [`AuditStore::verify`]), with this crate's error type, on
    /// the threads [`SqliteOptions::verify_parallelism`] gave (one per core by default).
    pub async fn verify_chain(
        &self,
        scope: VerifyScope,
        checkpoint: Option<Checkpoint>,
    ) -> Result<VerifyReport> {
        self.verify_chain_with(scope, checkpoint, self.inner.verify_parallelism)
            .await
    }

    /// [`verify_chain`](Self::verify_chain) on `parallelism`'s threads this once. A long
    /// range is read in stripes of seqs by one connection per thread, all on one snapshot
    /// (writers are held off for the moment it takes to begin them), each decoding and
    /// hashing its own rows; the calling thread links them in order. The report is the same
    /// whatever the thread count.
    pub async fn verify_chain_with(
        &self,
        scope: VerifyScope,
        checkpoint: Option<Checkpoint>,
        parallelism: Parallelism,
    ) -> Result<VerifyReport> {
        self.read(move |conn, inner| {
            verify::verify(
                conn,
                &inner.readers,
                &inner.hasher,
                scope,
                checkpoint.as_ref(),
                parallelism,
            )
        })
        .await
    }
}

impl SqliteStore {
    /// Signs a checkpoint of the tree now (see [`TransparencyLog::sign_checkpoint`]), with
    /// this crate's error type; `None` without a checkpoint policy or when the newest
    /// checkpoint already has the tree's size.
    pub async fn sign_tree_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        self.inner
            .writer
            .call(|reply| Command::SignCheckpoint { reply })
            .await
    }
}

#[async_trait]
impl TransparencyLog for SqliteStore {
    async fn tree_size(&self) -> Result<u64, StoreError> {
        Ok(self.read(|conn, _| tree::size(conn)).await?)
    }

    async fn tree_rows(&self, seqs: &[u64]) -> Result<Vec<TreeRow>, StoreError> {
        let seqs = seqs.to_vec();
        Ok(self
            .read(move |conn, _| {
                // One snapshot and one read lock for all the rows of a proof.
                let tx = conn.transaction()?;
                let rows = tree::rows(&tx, &seqs)?;
                tx.finish()?;
                Ok(rows)
            })
            .await?)
    }

    async fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>, StoreError> {
        Ok(self
            .read(move |conn, _| {
                let seq: Option<i64> = conn
                    .query_row(
                        "SELECT seq FROM audit_events WHERE id = ?1",
                        [&id.as_bytes()[..]],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(seq.map(|s| s.max(0) as u64))
            })
            .await?)
    }

    async fn sign_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.sign_tree_checkpoint().await?;
        self.latest_checkpoint().await
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        Ok(self
            .read(move |conn, _| tree::checkpoints(conn, from_size, limit))
            .await?)
    }

    async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self.read(|conn, _| tree::latest(conn)).await?)
    }
}

fn open_writer(options: &SqliteOptions) -> Result<Connection> {
    let path = &options.path;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| schema::open_error(path, e))?;
    conn.busy_timeout(options.busy_timeout)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| schema::open_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            mode,
            "audit-sqlite could not switch the database to WAL mode"
        );
    }
    conn.pragma_update(None, "synchronous", options.durability.pragma())?;
    conn.pragma_update(None, "cache_size", -i64::from(options.writer_cache_kib))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // A batch dirties many index pages; checkpointing every 4 MiB (the default) would copy
    // them into the main file after nearly every commit. 64 MiB lets pages rewritten by
    // consecutive batches be copied once.
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
    Ok(conn)
}

#[async_trait]
impl AuditSink for SqliteStore {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        let positions = self.append(batch).await?;
        Ok(BatchAck::chained(positions))
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        // A last signed checkpoint covers the tail the policy had not reached yet.
        self.sign_tree_checkpoint().await.map_err(SinkError::from)?;
        // The store may outlive the pipeline (admins still query it): only fold the WAL in.
        self.checkpoint_wal().await.map_err(SinkError::from)
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn query(&self, q: &AuditQuery) -> Result<Page, StoreError> {
        let q = q.clone();
        Ok(self
            .read(move |conn, inner| query::page(conn, &q, &inner.filters))
            .await?)
    }

    async fn count(&self, q: &AuditQuery) -> Result<u64, StoreError> {
        let q = q.clone();
        Ok(self
            .read(move |conn, inner| query::count(conn, &q, &inner.filters))
            .await?)
    }

    async fn count_by(&self, q: &AuditQuery, by: CountBy) -> Result<Vec<GroupCount>, StoreError> {
        let q = q.clone();
        Ok(self
            .read(move |conn, inner| query::count_by(conn, &q, &inner.filters, by))
            .await?)
    }

    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.read(move |conn, _| query::get(conn, seq)).await?)
    }

    async fn verify(
        &self,
        scope: VerifyScope,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport, StoreError> {
        Ok(self.verify_chain(scope, checkpoint.copied()).await?)
    }

    async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        let head = self.read(|conn, _| chain_append::head(conn)).await?;
        Ok((head.seq > 0).then(|| Checkpoint {
            seq: head.seq,
            hash: head.hash,
            taken_at: audit_core::event::now_micros(),
        }))
    }
}

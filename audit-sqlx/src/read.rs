//! The read side every backend shares: each supplies a few primitive queries
//! ([`ReadBackend`]), and verification, export, the head checkpoint and the
//! [`AuditStore`](audit_core::AuditStore) implementation are built on them here, once.

use std::io::Write;

use async_trait::async_trait;
use audit_core::chain::{
    ChainAnchor, ChainFault, ChainHash, ChainVerifier, Checkpoint, FaultKind, Parallelism,
    ReadRecord, VerifyReport,
};
use audit_core::export::{ExportFormat, Exporter};
use audit_core::query::{AuditQuery, CountBy, GroupCount, MAX_PAGE_SIZE, Page};
use audit_core::store::VerifyScope;
use audit_core::{ChainHasher, StoredEvent};

use crate::error::{Error, Result};

/// Rows fetched per round trip while verifying: memory stays bounded by this.
pub(crate) const SCAN_BATCH: u32 = 2000;

/// The queries a backend answers; everything else on the read side is built on them.
#[async_trait]
pub(crate) trait ReadBackend: Send + Sync {
    /// The hasher the chain is linked with.
    fn hasher(&self) -> &ChainHasher;
    /// How many threads verification hashes on.
    fn verify_parallelism(&self) -> Parallelism;
    /// One page of records matching `q` (its order, size and cursor).
    async fn page(&self, q: &AuditQuery) -> Result<Page>;
    /// How many records match `q`'s filters.
    async fn count(&self, q: &AuditQuery) -> Result<u64>;
    /// Counts of the records matching `q`, grouped by `by`, in any order.
    async fn count_groups(&self, q: &AuditQuery, by: CountBy) -> Result<Vec<GroupCount>>;
    /// The record at `seq`.
    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>>;
    /// The hash of the record at `seq`.
    async fn hash_at(&self, seq: u64) -> Result<Option<ChainHash>>;
    /// The newest retention anchor.
    async fn retention_anchor(&self) -> Result<Option<ChainAnchor>>;
    /// Up to `limit` records with `after < seq <= last`, in seq order, each decoded or the
    /// reason it does not decode ([`Error::Corrupt`]).
    async fn scan(&self, after: u64, last: u64, limit: u32) -> Result<Vec<Result<StoredEvent>>>;
    /// The chain head row: `(seq, hash)` of the last event written through it.
    async fn head_row(&self) -> Result<(u64, ChainHash)>;
}

/// Counts grouped by key, sorted by the key's bytes whatever the database collation.
pub(crate) async fn count_by(
    b: &impl ReadBackend,
    q: &AuditQuery,
    by: CountBy,
) -> Result<Vec<GroupCount>> {
    let mut groups = b.count_groups(q, by).await?;
    groups.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    Ok(groups)
}

/// The chain head (covers purged history too), as a checkpoint to keep elsewhere.
pub(crate) async fn checkpoint(b: &impl ReadBackend) -> Result<Option<Checkpoint>> {
    let (seq, hash) = b.head_row().await?;
    Ok((seq > 0).then(|| Checkpoint {
        seq,
        hash,
        taken_at: audit_core::event::now_micros(),
    }))
}

/// Where verification of `scope` starts and the last seq it covers.
async fn bounds(b: &impl ReadBackend, scope: VerifyScope) -> Result<(ChainAnchor, u64)> {
    const OPEN: u64 = i64::MAX as u64;
    Ok(match scope {
        VerifyScope::All => (
            b.retention_anchor().await?.unwrap_or(ChainAnchor::GENESIS),
            OPEN,
        ),
        VerifyScope::After(anchor) => (anchor, OPEN),
        VerifyScope::Range { from, to } => {
            if from == 0 || from > to {
                return Err(Error::InvalidRequest(format!(
                    "verify range {from}..={to}: need 1 <= from <= to"
                )));
            }
            let before = from - 1;
            let anchor = if before == 0 {
                ChainAnchor::GENESIS
            } else if let Some(hash) = b.hash_at(before).await? {
                ChainAnchor { seq: before, hash }
            } else if let Some(anchor) = b.retention_anchor().await?.filter(|a| a.seq == before) {
                anchor
            } else {
                return Err(Error::InvalidRequest(format!(
                    "verify range starts at {from}, but record {before} is not stored \
                     (purged or never written); verify from the retention anchor instead"
                )));
            };
            (anchor, to)
        }
    })
}

/// Streams the records of `scope` through a [`ChainVerifier`], [`SCAN_BATCH`] rows at a time,
/// so memory stays constant whatever the chain's length, on `parallelism`'s threads.
///
/// When the scope runs to the end of the log, records beyond the chain head row are reported
/// [`FaultKind::Inserted`]: every write moves the head in the transaction that inserts its
/// rows, so such rows were inserted by someone else (an application role that may `INSERT`
/// cannot be kept from inserting rows by the database alone). The head is read after the
/// scan, so rows committed meanwhile are never mistaken for such.
pub(crate) async fn verify(
    b: &impl ReadBackend,
    scope: VerifyScope,
    checkpoint: Option<&Checkpoint>,
    parallelism: Parallelism,
) -> Result<VerifyReport> {
    let (anchor, last) = bounds(b, scope).await?;
    let verifier =
        ChainVerifier::from_anchor(b.hasher().clone(), anchor).with_checkpoint(checkpoint);
    let verifier = if parallelism.is_sequential() {
        link(b, verifier, anchor.seq, last).await?
    } else {
        link_in_parallel(b, verifier, anchor.seq, last, parallelism).await?
    };
    let mut report = verifier.finish(None);
    if report.fault.is_none() && !matches!(scope, VerifyScope::Range { .. }) {
        let (head_seq, _) = b.head_row().await?;
        if let Some(verified) = report.head.filter(|h| h.seq > head_seq) {
            report.fault = Some(ChainFault {
                seq: head_seq + 1,
                kind: FaultKind::Inserted,
                detail: format!(
                    "records {}..={} lie beyond the chain head (seq {head_seq}): they were \
                     not written through it",
                    head_seq + 1,
                    verified.seq
                ),
            });
        }
    }
    Ok(report)
}

/// A row that no longer decodes was altered outside the library: verification ends there,
/// naming it. Any other error is the store's.
fn read_record(row: Result<StoredEvent>) -> Result<ReadRecord> {
    match row {
        Ok(record) => Ok(ReadRecord::Decoded(record)),
        Err(Error::Corrupt { seq, message }) => Ok(ReadRecord::Undecodable {
            seq,
            detail: message,
        }),
        Err(other) => Err(other),
    }
}

/// Pushes the records after `after` up to `last` through `verifier` on this task.
async fn link(
    b: &impl ReadBackend,
    mut verifier: ChainVerifier,
    mut after: u64,
    last: u64,
) -> Result<ChainVerifier> {
    'scan: loop {
        let rows = b.scan(after, last, SCAN_BATCH).await?;
        let fetched = rows.len();
        for row in rows {
            match read_record(row)? {
                ReadRecord::Decoded(record) => {
                    after = record.seq;
                    if verifier.push(&record).is_err() {
                        break 'scan;
                    }
                }
                ReadRecord::Undecodable { seq, detail } => {
                    verifier.undecodable(seq, detail);
                    break 'scan;
                }
            }
        }
        if fetched < SCAN_BATCH as usize {
            break;
        }
    }
    Ok(verifier)
}

/// [`link`] with the hashing on `parallelism`'s threads: a thread of its own runs
/// [`ChainVerifier::push_parallel`] over the batches this task fetches, so the next batch is
/// fetched while the last ones are hashed. At most two fetched batches wait for it.
async fn link_in_parallel(
    b: &impl ReadBackend,
    mut verifier: ChainVerifier,
    mut after: u64,
    last: u64,
    parallelism: Parallelism,
) -> Result<ChainVerifier> {
    let (batches, mut fetched) = tokio::sync::mpsc::channel::<Vec<Result<StoredEvent>>>(2);
    let (linked, done) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("audit-verify".into())
        .spawn(move || {
            let rows = std::iter::from_fn(|| fetched.blocking_recv())
                .flatten()
                .map(Ok);
            let result = verifier.push_parallel(parallelism, rows, read_record);
            // The receiver is gone only when the fetching task failed or was dropped.
            let _ = linked.send(result.map(|()| verifier));
        })
        .map_err(Error::Runtime)?;
    loop {
        let rows = b.scan(after, last, SCAN_BATCH).await?;
        let full = rows.len() == SCAN_BATCH as usize;
        // Verification ends at a row that does not decode: nothing after it is read.
        let mut ends = false;
        for row in &rows {
            match row {
                Ok(record) => after = record.seq,
                Err(_) => {
                    ends = true;
                    break;
                }
            }
        }
        // A closed channel: linking stopped at a fault, and reads nothing more.
        if batches.send(rows).await.is_err() || ends || !full {
            break;
        }
    }
    drop(batches);
    match done.await {
        Ok(result) => result,
        // The linking thread panicked (a bug): report it rather than a verdict.
        Err(_) => Err(Error::Runtime(std::io::Error::other(
            "the verification thread stopped without a verdict",
        ))),
    }
}

/// Writes every record matching `query`'s filters to `writer` in `format`, in the query's
/// order, [`MAX_PAGE_SIZE`] rows per round trip. `query`'s limit and cursor are ignored.
/// Returns the writer and how many records were written.
pub(crate) async fn export<W: Write>(
    b: &impl ReadBackend,
    query: &AuditQuery,
    format: ExportFormat,
    writer: W,
) -> Result<(W, u64)> {
    let mut exporter = Exporter::new(format, writer);
    let mut q = query.clone().limit(MAX_PAGE_SIZE);
    q.cursor = None;
    loop {
        let page = b.page(&q).await?;
        for record in &page.events {
            exporter.push(record)?;
        }
        match page.next {
            Some(cursor) => q = q.after(cursor),
            None => break,
        }
    }
    let written = exporter.written();
    Ok((exporter.finish()?, written))
}

/// Implements [`AuditStore`](audit_core::AuditStore) for a store that is a [`ReadBackend`],
/// and gives it the inherent `export` and `retention_anchor`.
macro_rules! audit_store_through_read_backend {
    ($store:ty) => {
        impl $store {
            /// Writes every record matching `query`'s filters to `writer` in `format`, in the
            /// query's order, fetching [`MAX_PAGE_SIZE`](audit_core::query::MAX_PAGE_SIZE)
            /// rows per round trip (memory stays bounded whatever the log's size). `query`'s
            /// limit and cursor are ignored: the export covers all matches. Returns the writer
            /// and how many records were written.
            ///
            /// `writer` is a blocking [`Write`](std::io::Write); give it a buffered file or an
            /// in-memory buffer (the exporter buffers its own output as well).
            pub async fn export<W: std::io::Write>(
                &self,
                query: &audit_core::query::AuditQuery,
                format: audit_core::export::ExportFormat,
                writer: W,
            ) -> $crate::Result<(W, u64)> {
                self.runtime()
                    .run($crate::read::export(self, query, format, writer))
                    .await
            }

            /// Verifies `scope` (as [`AuditStore::verify`](audit_core::AuditStore::verify)
            /// does) on `parallelism`'s threads this once, whatever the store's
            /// `verify_parallelism` option says: each fetched batch is hashed on them while
            /// the next one is fetched, and linked in order. The report is the same
            /// whatever the thread count.
            pub async fn verify_chain_with(
                &self,
                scope: audit_core::store::VerifyScope,
                checkpoint: Option<&audit_core::chain::Checkpoint>,
                parallelism: audit_core::chain::Parallelism,
            ) -> $crate::Result<audit_core::chain::VerifyReport> {
                self.runtime()
                    .run($crate::read::verify(self, scope, checkpoint, parallelism))
                    .await
            }

            /// The newest retention anchor (where purged history ended), if any.
            pub async fn retention_anchor(
                &self,
            ) -> $crate::Result<Option<audit_core::chain::ChainAnchor>> {
                self.runtime()
                    .run($crate::read::ReadBackend::retention_anchor(self))
                    .await
            }
        }

        #[async_trait::async_trait]
        impl audit_core::AuditStore for $store {
            async fn query(
                &self,
                query: &audit_core::query::AuditQuery,
            ) -> Result<audit_core::query::Page, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::read::ReadBackend::page(self, query))
                    .await?)
            }

            async fn count(
                &self,
                query: &audit_core::query::AuditQuery,
            ) -> Result<u64, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::read::ReadBackend::count(self, query))
                    .await?)
            }

            async fn count_by(
                &self,
                query: &audit_core::query::AuditQuery,
                by: audit_core::query::CountBy,
            ) -> Result<Vec<audit_core::query::GroupCount>, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::read::count_by(self, query, by))
                    .await?)
            }

            async fn get(
                &self,
                seq: u64,
            ) -> Result<Option<audit_core::StoredEvent>, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::read::ReadBackend::get(self, seq))
                    .await?)
            }

            async fn verify(
                &self,
                scope: audit_core::store::VerifyScope,
                checkpoint: Option<&audit_core::chain::Checkpoint>,
            ) -> Result<audit_core::chain::VerifyReport, audit_core::StoreError> {
                Ok(self
                    .runtime()
                    .run($crate::read::verify(
                        self,
                        scope,
                        checkpoint,
                        $crate::read::ReadBackend::verify_parallelism(self),
                    ))
                    .await?)
            }

            async fn head(
                &self,
            ) -> Result<Option<audit_core::chain::Checkpoint>, audit_core::StoreError> {
                Ok(self.runtime().run($crate::read::checkpoint(self)).await?)
            }
        }
    };
}
pub(crate) use audit_store_through_read_backend;

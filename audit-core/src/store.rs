//! The reading side of a backend: queries, counts and verification.

use async_trait::async_trait;

use crate::chain::{ChainAnchor, Checkpoint, VerifyReport};
use crate::event::StoredEvent;
use crate::query::{AuditQuery, CountBy, GroupCount, Page};
use crate::sink::BoxError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("audit store backend error: {message}")]
    Backend {
        /// What went wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The database holds a schema this library does not know (newer, or foreign).
    #[error("audit store schema problem: {0}")]
    Schema(String),
    /// A stored row could not be decoded into an event.
    #[error("stored record {seq} is corrupt: {message}")]
    Corrupt {
        /// The record's seq.
        seq: u64,
        /// What could not be decoded.
        message: String,
    },
    /// The request itself is invalid (a bad range, a bad cursor).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Reading or writing a file (an export, an archive) failed.
    #[error("audit store I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// A tenant-scoped view ([`TenantScoped`](crate::tenant::TenantScoped)) was asked for
    /// another tenant's event, or for what only the whole shared log can answer.
    #[error("{0}")]
    Tenant(#[from] TenantRefusal),
}

/// What a tenant-scoped view ([`TenantScoped`](crate::tenant::TenantScoped)) refuses.
///
/// A refusal never tells another tenant's event from no event: both are "not this
/// tenant's".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRefusal {
    /// The seq is not a stored event of this tenant: another tenant's, one without a
    /// tenant, an archived one, or none at all.
    #[error("seq {seq} is not a stored event of tenant {tenant:?}")]
    NotTenantSeq {
        /// The view's tenant.
        tenant: String,
        /// The seq asked for.
        seq: u64,
    },
    /// No stored event of this tenant has this id.
    #[error("no stored event of tenant {tenant:?} has id {id}")]
    NotTenantId {
        /// The view's tenant.
        tenant: String,
        /// The id asked for.
        id: uuid::Uuid,
    },
    /// The operation reads or changes the log every tenant shares (the chain, its head,
    /// the raw tree rows, signing a checkpoint): the operator's job.
    #[error(
        "tenant {tenant:?} cannot {operation}: it covers every tenant's events; the operator \
         does that, and a tenant checks its own events against a signed checkpoint \
         (audit_core::tlog::verify_tenant)"
    )]
    SharedLog {
        /// The view's tenant.
        tenant: String,
        /// What was refused, as a verb phrase ("verify the shared chain").
        operation: &'static str,
    },
}

impl StoreError {
    /// A backend error with its source.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// Which part of the chain to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyScope {
    /// Everything the store holds, from its first record (or its archive anchor).
    #[default]
    All,
    /// Records with `from <= seq <= to`.
    Range {
        /// First seq to check.
        from: u64,
        /// Last seq to check.
        to: u64,
    },
    /// Everything after a trusted anchor (a previously verified or exported point).
    After(ChainAnchor),
}

/// The read side every backend implements, so admin tools and the conformance suite work on
/// any of them.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// One page of records matching `query`.
    async fn query(&self, query: &AuditQuery) -> Result<Page, StoreError>;

    /// How many records match `query` (ignores order, limit and cursor).
    async fn count(&self, query: &AuditQuery) -> Result<u64, StoreError>;

    /// Counts of the records matching `query`, grouped, sorted by key.
    async fn count_by(
        &self,
        query: &AuditQuery,
        by: CountBy,
    ) -> Result<Vec<GroupCount>, StoreError>;

    /// Looks up one record by seq.
    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError>;

    /// Verifies the chain; `checkpoint` (from an earlier [`head`](Self::head)) detects a
    /// truncated tail.
    async fn verify(
        &self,
        scope: VerifyScope,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport, StoreError>;

    /// The newest record's position, to export as a checkpoint.
    async fn head(&self) -> Result<Option<Checkpoint>, StoreError>;
}

/// A shared store is a store: `Arc<SqliteStore>`, `Arc<dyn AuditStore>` and the like can be
/// handed to anything that takes an [`AuditStore`].
#[async_trait]
impl<T: AuditStore + ?Sized> AuditStore for std::sync::Arc<T> {
    async fn query(&self, query: &AuditQuery) -> Result<Page, StoreError> {
        (**self).query(query).await
    }

    async fn count(&self, query: &AuditQuery) -> Result<u64, StoreError> {
        (**self).count(query).await
    }

    async fn count_by(
        &self,
        query: &AuditQuery,
        by: CountBy,
    ) -> Result<Vec<GroupCount>, StoreError> {
        (**self).count_by(query, by).await
    }

    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        (**self).get(seq).await
    }

    async fn verify(
        &self,
        scope: VerifyScope,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport, StoreError> {
        (**self).verify(scope, checkpoint).await
    }

    async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        (**self).head().await
    }
}

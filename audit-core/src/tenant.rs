//! A view of a store that holds one tenant's events only ([`TenantScoped`]), for multi-tenant
//! services that let each tenant read, and check, its own log.
//!
//! ## One shared log
//!
//! Tenants share one chain and one Merkle tree: one gap-free order of every event, one
//! verification by the operator, one signed checkpoint that vouches for every tenant at
//! once. A chain per tenant would give each tenant a head of its own to verify, but it
//! would also mean a head, a lock and a checkpoint stream per tenant, an order across
//! tenants that nothing records, and a log whose completeness for a tenant rests on that
//! tenant's head alone: the operator could no longer show with one checkpoint that the
//! whole log only grew.
//!
//! What a tenant gets is every read of its own events, whatever filter, cursor or seq it
//! sends: the scope is applied after the caller's filters, not instead of a check.
//!
//! ## What a tenant can check, and what it cannot
//!
//! Verifying the shared chain reads every tenant's events, so a scoped handle refuses it
//! ([`TenantRefusal::SharedLog`]). A tenant checks its own events instead, against a signed
//! checkpoint it holds (published by the operator, verified with the operator's public key):
//! [`tlog::verify_tenant`](crate::tlog::verify_tenant) proves each of the tenant's events in
//! a range by its inclusion proof (`log2(n)` sibling hashes), and
//! [`tlog::bundle::write_tenant_bundle`](crate::tlog::bundle::write_tenant_bundle) writes
//! the same events and proofs to a file that
//! [`verify_bundle`](crate::tlog::bundle::verify_bundle) checks offline. Through this handle
//! a tenant can prove its own events only ([`TenantRefusal::NotTenantSeq`],
//! [`TenantRefusal::NotTenantId`]); signed checkpoints and consistency proofs, which hold
//! only hashes, are the operator's published record and are answered. The live tree (its
//! size and rows) and signing stay the operator's.
//!
//! This **proves**: every event the tenant is shown is, byte for byte (its canonical
//! encoding), the event at that seq in the log the operator signed. An event changed after
//! it was signed, one moved to another seq, another tenant's event retagged as this
//! tenant's, or one the store cannot prove is named by its seq.
//!
//! It **does not prove** that the tenant was shown *all* its events. An event of the tenant
//! deleted from the store, retagged as another tenant's, or left out of a listing or a
//! bundle leaves no trace the tenant can see: the seqs between its events belong to other
//! tenants as far as it can tell, and a bundle's own lines are not signed. Inclusion proofs
//! show presence, never absence. Omission is caught by the operator's full verification
//! ([`tlog::verify_log`](crate::tlog::verify_log)), and by a tenant that kept its own
//! receipts (the ids or seqs `record_durable` returns) and proves each of them
//! ([`TransparencyLog::prove_inclusion_of`](crate::tlog::TransparencyLog::prove_inclusion_of)).
//! Detecting it from the log alone would need a signed per-tenant commitment: a tree per
//! tenant whose root each checkpoint signs (then per-tenant consistency proofs), or each
//! event carrying its tenant's previous seq under the leaf with the tenant's newest seq in
//! the checkpoint. Neither exists yet.
//!
//! A tenant also learns what the shared tree shows anyone holding a checkpoint: the log's
//! size, hence how many other events lie between its own, and hashes of other events: leaf
//! and interior hashes in its proofs, and in each of its records the `prev_hash`, the chain
//! hash of the event before it. All are SHA-256 over canonical bytes that begin with the
//! event's UUIDv7 id (74 random bits), so guessing an event's content cannot confirm it. A rollback is the tenant's to catch by
//! keeping its older checkpoint and asking for a consistency proof to the newer one.

use async_trait::async_trait;

use crate::StoredEvent;
use crate::chain::{Checkpoint, VerifyReport};
use crate::query::{AuditQuery, CountBy, GroupCount, Order, Page};
pub use crate::store::TenantRefusal;
use crate::store::{AuditStore, StoreError, VerifyScope};

/// `store` seen by one tenant: every query and count is limited to events whose `tenant` is
/// this one, [`get`](AuditStore::get) of another tenant's seq answers `None`, exactly as
/// for a seq that does not exist, and [`head`](AuditStore::head) is the tenant's newest
/// event. Verifying the shared chain is refused (see the [module docs](self)); when `store`
/// keeps the Merkle tree, the view is a
/// [`TransparencyLog`](crate::tlog::TransparencyLog) that proves this tenant's events only.
///
/// ```
/// use audit_core::query::AuditQuery;
/// use audit_core::sinks::MemorySink;
/// use audit_core::tenant::TenantScope;
/// use audit_core::{AuditEvent, AuditSink, AuditStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemorySink::new();
/// store.write(&[
///     AuditEvent::builder("INVOICE_SENT").tenant("acme").build(),
///     AuditEvent::builder("INVOICE_SENT").tenant("globex").build(),
/// ]).await.unwrap();
///
/// let acme = store.clone().for_tenant("acme");
/// // Asking for another tenant's events gets none of them.
/// let page = acme.query(&AuditQuery::new().tenant("globex")).await.unwrap();
/// assert!(page.events.is_empty());
/// assert_eq!(acme.count(&AuditQuery::new()).await.unwrap(), 1);
/// assert!(acme.get(2).await.unwrap().is_none(), "globex's event is not there for acme");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TenantScoped<S> {
    store: S,
    tenant: String,
}

impl<S> TenantScoped<S> {
    /// The tenant this view is limited to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The whole store, for the proofs built on this view (crate-internal: it sees every
    /// tenant).
    pub(crate) fn unscoped(&self) -> &S {
        &self.store
    }

    /// Whether `record` is this tenant's.
    pub(crate) fn owns(&self, record: &StoredEvent) -> bool {
        record.event.tenant.as_deref() == Some(self.tenant.as_str())
    }

    /// A refusal of `operation` on the shared log.
    pub(crate) fn shared_log(&self, operation: &'static str) -> StoreError {
        TenantRefusal::SharedLog {
            tenant: self.tenant.clone(),
            operation,
        }
        .into()
    }

    /// `query` limited to this tenant, or `None` when it names another tenant: the scope
    /// narrows the caller's filters, it never widens them, and no event has two tenants.
    fn scoped(&self, query: &AuditQuery) -> Option<AuditQuery> {
        if query
            .tenant
            .as_ref()
            .is_some_and(|asked| *asked != self.tenant)
        {
            return None;
        }
        let mut scoped = query.clone();
        scoped.tenant = Some(self.tenant.clone());
        Some(scoped)
    }
}

/// [`TenantScope::for_tenant`] for every store.
pub trait TenantScope: AuditStore + Sized {
    /// This store as `tenant` sees it (see [`TenantScoped`]).
    fn for_tenant(self, tenant: impl Into<String>) -> TenantScoped<Self> {
        TenantScoped {
            store: self,
            tenant: tenant.into(),
        }
    }
}

impl<S: AuditStore> TenantScope for S {}

#[async_trait]
impl<S: AuditStore> AuditStore for TenantScoped<S> {
    async fn query(&self, query: &AuditQuery) -> Result<Page, StoreError> {
        match self.scoped(query) {
            Some(scoped) => self.store.query(&scoped).await,
            None => Ok(Page::from_fetched(Vec::new(), query.page_size())),
        }
    }

    async fn count(&self, query: &AuditQuery) -> Result<u64, StoreError> {
        match self.scoped(query) {
            Some(scoped) => self.store.count(&scoped).await,
            None => Ok(0),
        }
    }

    async fn count_by(
        &self,
        query: &AuditQuery,
        by: CountBy,
    ) -> Result<Vec<GroupCount>, StoreError> {
        match self.scoped(query) {
            Some(scoped) => self.store.count_by(&scoped, by).await,
            None => Ok(Vec::new()),
        }
    }

    async fn get(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self
            .store
            .get(seq)
            .await?
            .filter(|record| self.owns(record)))
    }

    async fn verify(
        &self,
        _scope: VerifyScope,
        _checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport, StoreError> {
        Err(self.shared_log("verify the shared chain"))
    }

    /// The newest of this tenant's events, as its place in the shared chain (`None` when
    /// the tenant has none): what a tenant's view shows as its newest position.
    async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        let newest = AuditQuery::new().order(Order::NewestFirst).limit(1);
        let page = self.query(&newest).await?;
        Ok(page.events.first().map(|record| Checkpoint {
            seq: record.seq,
            hash: record.hash,
            taken_at: crate::event::now_micros(),
        }))
    }
}

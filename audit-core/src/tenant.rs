//! A view of a store that holds one tenant's events only ([`TenantScoped`]), for multi-tenant
//! services that let each tenant read its own log.
//!
//! Tenants share one chain: the order of events across tenants is one order, and one
//! verification (the operator's) covers all of them. What a tenant gets is every read of its
//! own events, whatever filter, cursor or seq it sends: the scope is applied after the
//! caller's filters, not instead of a check. Verifying the shared chain reads every tenant's
//! events, so a scoped handle refuses it ([`StoreError::InvalidRequest`]); the operator
//! verifies, and publishes checkpoints a tenant can hold.

use async_trait::async_trait;

use crate::StoredEvent;
use crate::chain::{Checkpoint, VerifyReport};
use crate::query::{AuditQuery, CountBy, GroupCount, Page};
use crate::store::{AuditStore, StoreError, VerifyScope};

/// `store` seen by one tenant: every query and count is limited to events whose `tenant` is
/// this one, and [`get`](AuditStore::get) of another tenant's seq answers `None`, exactly as
/// for a seq that does not exist.
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
            .filter(|record| record.event.tenant.as_deref() == Some(self.tenant.as_str())))
    }

    async fn verify(
        &self,
        _scope: VerifyScope,
        _checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport, StoreError> {
        Err(StoreError::InvalidRequest(format!(
            "tenant {:?} cannot verify the shared chain: it covers every tenant's events; \
             the operator verifies it and publishes checkpoints",
            self.tenant
        )))
    }

    async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        Err(StoreError::InvalidRequest(format!(
            "tenant {:?} has no chain head of its own: the chain is shared by every tenant",
            self.tenant
        )))
    }
}

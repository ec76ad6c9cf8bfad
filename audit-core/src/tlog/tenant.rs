//! One tenant's events checked against the shared tree: the scoped handle as a
//! [`TransparencyLog`] that proves the tenant's own events only, and [`verify_tenant`].
//!
//! Why a tenant checks by inclusion proofs, and what that does and does not prove, is
//! argued in [`crate::tenant`].

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::proof::{self, ConsistencyProof, InclusionProof};
use super::verify::{TreeFault, TreeFaultKind};
use super::{
    Keyring, SignedCheckpoint, TransparencyLog, TreeError, TreeHead, TreeRow,
    leaf_hash_with_scratch,
};
use crate::event::StoredEvent;
use crate::query::{AuditQuery, Cursor, Order};
use crate::store::{AuditStore, StoreError, VerifyScope};
use crate::tenant::{TenantRefusal, TenantScoped};

/// The tenant's events read per page while proving.
const PAGE: u32 = 500;

/// At most this many faults are listed in a [`TenantReport`]; the rest are counted.
pub const MAX_LISTED_FAULTS: usize = 100;

/// The tenant's view of the tree: proofs of its own events, refusals of everyone else's.
///
/// Signed checkpoints, their roots and consistency proofs are answered: they hold hashes
/// only, and a tenant needs them to check that the log only grew. The live tree's size and
/// rows, and signing, are the operator's ([`TenantRefusal::SharedLog`]); so the whole-log
/// verifier ([`verify_log`](super::verify_log)) refuses a tenant's view rather than
/// reporting its gaps as faults.
#[async_trait]
impl<S: AuditStore + TransparencyLog> TransparencyLog for TenantScoped<S> {
    /// Refused: the live size counts every tenant's events as they happen; a tenant reads
    /// the size of the signed checkpoints it holds.
    async fn tree_size(&self) -> Result<u64, StoreError> {
        Err(self.shared_log("read the shared tree's live size"))
    }

    /// Refused: the rows are the shared log's storage; ask for a proof instead.
    async fn tree_rows(&self, _seqs: &[u64]) -> Result<Vec<TreeRow>, StoreError> {
        Err(self.shared_log("read the shared tree's rows"))
    }

    /// The seq of this tenant's event with `id`; `None` for another tenant's, as for an
    /// unknown id.
    async fn seq_of(&self, id: Uuid) -> Result<Option<u64>, StoreError> {
        let Some(seq) = self.unscoped().seq_of(id).await? else {
            return Ok(None);
        };
        Ok(self.get(seq).await?.map(|record| record.seq))
    }

    /// Refused: a tenant's view reads the log, it does not sign it.
    async fn sign_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        Err(self.shared_log("sign a checkpoint of the shared log"))
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        self.unscoped().checkpoints(from_size, limit).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.unscoped().latest_checkpoint().await
    }

    async fn tree_head_at(&self, size: u64) -> Result<TreeHead, StoreError> {
        self.unscoped().tree_head_at(size).await
    }

    /// Proof of this tenant's event at `seq`; [`TenantRefusal::NotTenantSeq`] for any other.
    async fn prove_inclusion(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        if self.get(seq).await?.is_none() {
            return Err(TenantRefusal::NotTenantSeq {
                tenant: self.tenant().to_owned(),
                seq,
            }
            .into());
        }
        self.unscoped().prove_inclusion(seq, tree_size).await
    }

    /// Proof of this tenant's event with `id`; [`TenantRefusal::NotTenantId`] for any other.
    async fn prove_inclusion_of(
        &self,
        id: Uuid,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        let Some(seq) = self.seq_of(id).await? else {
            return Err(TenantRefusal::NotTenantId {
                tenant: self.tenant().to_owned(),
                id,
            }
            .into());
        };
        self.unscoped().prove_inclusion(seq, tree_size).await
    }

    async fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, StoreError> {
        self.unscoped().prove_consistency(old_size, new_size).await
    }
}

/// The result of [`verify_tenant`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantReport {
    /// The tenant whose events were checked.
    pub tenant: String,
    /// The verified checkpoint's head (`None` when the checkpoint did not verify).
    pub head: Option<TreeHead>,
    /// The first seq of the range checked.
    pub from_seq: u64,
    /// The last seq of the range checked (at most the checkpoint's size).
    pub to_seq: u64,
    /// The tenant's events in the range that were checked.
    pub checked: u64,
    /// The tenant's events that are not proven in the signed tree, in seq order (the first
    /// [`MAX_LISTED_FAULTS`]).
    pub faults: Vec<TreeFault>,
    /// Faults found beyond those listed.
    pub unlisted_faults: u64,
}

impl TenantReport {
    /// Whether every event of the tenant in the range is proven in the signed tree.
    pub fn is_valid(&self) -> bool {
        self.faults.is_empty() && self.head.is_some()
    }

    /// The first fault, if any.
    pub fn fault(&self) -> Option<&TreeFault> {
        self.faults.first()
    }

    fn push(&mut self, fault: TreeFault) {
        if self.faults.len() < MAX_LISTED_FAULTS {
            self.faults.push(fault);
        } else {
            self.unlisted_faults += 1;
        }
    }
}

/// The seq range `scope` names inside a tree of `size` leaves (empty when nothing follows
/// an anchor at the end), or why it does not fit.
pub(crate) fn range_in(scope: VerifyScope, size: u64) -> Result<(u64, u64), StoreError> {
    let bad = |what: String| {
        StoreError::InvalidRequest(format!(
            "{what} must lie within 1..={size} (the checkpoint's tree)"
        ))
    };
    match scope {
        VerifyScope::All => Ok((1, size)),
        VerifyScope::Range { from, to } if from == 0 || from > to || to > size => {
            Err(bad(format!("range {from}..={to}")))
        }
        VerifyScope::Range { from, to } => Ok((from, to)),
        VerifyScope::After(anchor) if anchor.seq > size => {
            Err(bad(format!("anchor seq {}", anchor.seq)))
        }
        VerifyScope::After(anchor) => Ok((anchor.seq + 1, size)),
    }
}

/// Checks every event of `store`'s tenant with `from <= seq <= to` against the signed
/// `checkpoint`: each by its inclusion proof, `log2(n)` sibling hashes from the store,
/// checked against the root the operator signed. The tenant sees its own events and those
/// hashes, nothing of another tenant's events.
///
/// `scope` is a seq range of the checkpoint's tree: [`VerifyScope::All`] is `1..=size`,
/// [`VerifyScope::After`] everything after the anchor's seq up to `size` (the anchor's chain
/// hash is not needed: the tree is); events after the checkpoint are for a newer one. Each event that is not the one the signed tree holds at
/// its seq is named ([`TreeFaultKind::Modified`]), and each the store cannot prove
/// ([`TreeFaultKind::Unproven`]); a store whose tree is smaller than the checkpoint is
/// [`TreeFaultKind::Truncated`]. An event of the tenant that the store no longer shows is
/// not found this way (see [`crate::tenant`] for what would find it).
///
/// ```
/// use audit_core::store::VerifyScope;
/// use audit_core::tenant::TenantScope;
/// use audit_core::tlog::{CheckpointPolicy, CheckpointSigner, Keyring, TransparencyLog, verify_tenant};
/// use audit_core::{AuditEvent, AuditSink, sinks::MemorySink};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let signer = CheckpointSigner::generate("audit.example.com/saas").unwrap();
/// let operator_key = Keyring::new(signer.verifying_key()).unwrap();
/// let log = MemorySink::new().with_checkpoints(CheckpointPolicy::new(signer));
/// let events: Vec<_> = (0..10)
///     .map(|i| AuditEvent::builder("INVOICE_SENT").tenant(["acme", "globex"][i % 2]).build())
///     .collect();
/// log.write(&events).await.unwrap();
/// // The operator publishes a signed checkpoint; the tenant keeps it.
/// let held = log.sign_checkpoint().await.unwrap().unwrap();
///
/// // acme checks its five events, and sees nothing of globex's.
/// let acme = log.clone().for_tenant("acme");
/// let report = verify_tenant(&acme, VerifyScope::All, &held, &operator_key).await.unwrap();
/// assert!(report.is_valid(), "{report:?}");
/// assert_eq!(report.checked, 5);
/// // globex's event at seq 2 is not acme's to prove.
/// assert!(acme.prove_inclusion(2, 10).await.is_err());
///
/// // An acme event changed behind the store's back is named at its seq.
/// log.tamper_modify(3, |r| r.event.description = Some("refunded".into()));
/// let report = verify_tenant(&acme, VerifyScope::All, &held, &operator_key).await.unwrap();
/// assert_eq!(report.fault().map(|f| f.seq), Some(3));
/// # });
/// ```
pub async fn verify_tenant<S>(
    store: &TenantScoped<S>,
    scope: VerifyScope,
    checkpoint: &SignedCheckpoint,
    keys: &Keyring,
) -> Result<TenantReport, StoreError>
where
    S: AuditStore + TransparencyLog,
{
    let mut report = TenantReport {
        tenant: store.tenant().to_owned(),
        head: None,
        from_seq: 0,
        to_seq: 0,
        checked: 0,
        faults: Vec::new(),
        unlisted_faults: 0,
    };
    let head = match checkpoint.verify(keys) {
        Ok(head) => head,
        Err(err) => {
            report.push(TreeFault {
                seq: 0,
                kind: TreeFaultKind::BadCheckpoint,
                detail: err.to_string(),
            });
            return Ok(report);
        }
    };
    report.head = Some(head);
    let (from, to) = range_in(scope, head.size)?;
    (report.from_seq, report.to_seq) = (from, to);
    let size = store.unscoped().tree_size().await?;
    if size < head.size {
        report.push(TreeFault {
            seq: size + 1,
            kind: TreeFaultKind::Truncated,
            detail: format!(
                "the log's tree ends at seq {size}; the checkpoint vouches for {} events",
                head.size
            ),
        });
        return Ok(report);
    }
    let mut scratch = Vec::with_capacity(512);
    let mut pages = TenantPages::new(from, to);
    while let Some(page) = pages.next(store).await? {
        let proofs = prove_all(store.unscoped(), &page, head.size).await?;
        for (record, proof) in page.iter().zip(proofs) {
            report.checked += 1;
            let leaf = leaf_hash_with_scratch(&record.event, &mut scratch);
            if let Some(fault) = judge(record.seq, proof, |p| p.verify(&leaf, &head).is_ok()) {
                report.push(fault);
            }
        }
    }
    Ok(report)
}

/// The fault of an event whose proof could not be built or does not reach the root.
pub(crate) fn judge(
    seq: u64,
    proof: Result<InclusionProof, TreeError>,
    reaches_root: impl Fn(&InclusionProof) -> bool,
) -> Option<TreeFault> {
    match proof {
        Ok(proof) if reaches_root(&proof) => None,
        Ok(_) => Some(TreeFault {
            seq,
            kind: TreeFaultKind::Modified,
            detail: "its inclusion proof does not reach the signed root: the event is not \
                     the one the checkpoint vouches for at this seq"
                .into(),
        }),
        Err(err) => Some(TreeFault {
            seq,
            kind: TreeFaultKind::Unproven,
            detail: format!("the store cannot prove it: {err}"),
        }),
    }
}

/// The pages of a tenant's events with `from <= seq <= to`, oldest first.
pub(crate) struct TenantPages {
    cursor: u64,
    to: u64,
    done: bool,
}

impl TenantPages {
    pub(crate) fn new(from: u64, to: u64) -> Self {
        Self {
            cursor: from.saturating_sub(1),
            to,
            done: from > to,
        }
    }

    /// The next page, `None` after the last. A record of another tenant in the store's
    /// answer is a broken store, not a page.
    pub(crate) async fn next<S: AuditStore>(
        &mut self,
        store: &TenantScoped<S>,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let query = AuditQuery::new()
            .order(Order::OldestFirst)
            .limit(PAGE)
            .after(Cursor::after_seq(self.cursor));
        let page = store.query(&query).await?;
        let records: Vec<StoredEvent> = page
            .events
            .into_iter()
            .take_while(|r| r.seq <= self.to)
            .collect();
        if let Some(stray) = records.iter().find(|r| !store.owns(r)) {
            return Err(StoreError::Corrupt {
                seq: stray.seq,
                message: format!(
                    "the store answered a query of tenant {:?} with another tenant's event",
                    store.tenant()
                ),
            });
        }
        let Some(last) = records.last().map(|r| r.seq) else {
            self.done = true;
            return Ok(None);
        };
        self.cursor = last;
        self.done = page.next.is_none() || last >= self.to;
        Ok(Some(records))
    }
}

/// The inclusion proof of each record in the tree of `size` leaves, with one read of every
/// row the proofs need (the union, fetched in one call per page).
pub(crate) async fn prove_all<L>(
    log: &L,
    records: &[StoredEvent],
    size: u64,
) -> Result<Vec<Result<InclusionProof, TreeError>>, StoreError>
where
    L: TransparencyLog + ?Sized,
{
    let mut needed = std::collections::BTreeSet::new();
    for record in records {
        if let Ok(rows) = proof::inclusion_rows(record.seq, size) {
            needed.extend(rows);
        }
    }
    let wanted: Vec<u64> = needed.into_iter().collect();
    let rows: HashMap<u64, TreeRow> = if wanted.is_empty() {
        HashMap::new()
    } else {
        log.tree_rows(&wanted)
            .await?
            .into_iter()
            .map(|r| (r.seq, r))
            .collect()
    };
    Ok(records
        .iter()
        .map(|record| {
            let proof = proof::inclusion(record.seq, size, &rows);
            // `tlog_tiles` reports absent rows without saying which size; say it.
            proof.map_err(|err| match err {
                TreeError::MissingRows { .. } => TreeError::MissingRows { size },
                other => other,
            })
        })
        .collect())
}

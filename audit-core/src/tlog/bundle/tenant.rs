//! Tenant bundles: one tenant's records of a range, each with its inclusion proof.
//!
//! A JSON Lines file:
//!
//! 1. a header line ([`BundleHeader`](super::BundleHeader)) with format
//!    [`TENANT_BUNDLE_FORMAT`], the `tenant`, the range `from_seq..=to_seq` and the signed
//!    checkpoint (`frontier` and `consistency` empty);
//! 2. one line per record of the tenant in the range, in seq order: the record as the JSON
//!    Lines export writes it, its `leaf_hash`, and `proof`, its audit path in the
//!    checkpoint's tree;
//! 3. a closing line `{"records": n}`.
//!
//! The verifier recomputes each leaf, checks its proof against the signed root, and that
//! every record is the header's tenant's and inside the range, in seq order. The lines
//! themselves are not signed: the closing count catches a file cut short by accident, not
//! a record removed on purpose (see [`crate::tenant`] on omission).

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::{BundleHeader, BundleReport, BundleSummary};
use crate::chain::ChainHash;
use crate::event::StoredEvent;
use crate::store::{AuditStore, StoreError};
use crate::tenant::TenantScoped;
use crate::tlog::tenant::{TenantPages, judge, prove_all};
use crate::tlog::verify::{TreeFault, TreeFaultKind};
use crate::tlog::{
    InclusionProof, Keyring, LEAF_VERSION, SignedCheckpoint, TransparencyLog, TreeHead,
    leaf_hash_with_scratch,
};

/// The tenant bundle format's name in the header.
pub const TENANT_BUNDLE_FORMAT: &str = "audit-tenant-bundle";
/// The tenant bundle format's version.
pub const TENANT_BUNDLE_VERSION: u32 = 1;

#[derive(Serialize)]
struct LineOut<'a> {
    #[serde(flatten)]
    record: &'a StoredEvent,
    leaf_hash: ChainHash,
    proof: &'a [ChainHash],
}

#[derive(Deserialize)]
struct LineIn {
    #[serde(flatten)]
    record: StoredEvent,
    leaf_hash: Option<ChainHash>,
    proof: Vec<ChainHash>,
}

/// The closing line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    records: u64,
}

/// Writes the records of `store`'s tenant with `from_seq <= seq <= to_seq` as a tenant
/// bundle proven against `checkpoint` (a signed checkpoint of this log whose size is at
/// least `to_seq`): no other tenant's event, only the sibling hashes of the tenant's own.
///
/// Every proof is checked against the checkpoint's root before it is written, so a store
/// that no longer matches its checkpoint is refused here rather than handed out.
///
/// ```
/// # use audit_core::{AuditEvent, AuditSink, sinks::MemorySink, tenant::TenantScope};
/// # use audit_core::tlog::{CheckpointPolicy, CheckpointSigner, Keyring, TransparencyLog, bundle};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let signer = CheckpointSigner::generate("audit.example.com/saas").unwrap();
/// let operator_key = Keyring::new(signer.verifying_key()).unwrap();
/// let log = MemorySink::new().with_checkpoints(CheckpointPolicy::new(signer));
/// let events: Vec<_> = (0..10)
///     .map(|i| AuditEvent::builder("INVOICE_SENT").tenant(["acme", "globex"][i % 2]).build())
///     .collect();
/// log.write(&events).await.unwrap();
/// let checkpoint = log.sign_checkpoint().await.unwrap().unwrap();
///
/// let mut file = Vec::new();
/// let acme = log.clone().for_tenant("acme");
/// let written = bundle::write_tenant_bundle(&acme, 1, 10, &checkpoint, &mut file).await.unwrap();
/// assert_eq!(written.records, 5);
/// // acme checks it offline with the operator's key: no database, no globex event.
/// let report = bundle::verify_bundle(&file[..], &operator_key).unwrap();
/// assert!(report.is_valid(), "{report:?}");
/// assert!(!String::from_utf8(file).unwrap().contains("globex"));
/// # });
/// ```
pub async fn write_tenant_bundle<S, W>(
    store: &TenantScoped<S>,
    from_seq: u64,
    to_seq: u64,
    checkpoint: &SignedCheckpoint,
    mut out: W,
) -> Result<BundleSummary, StoreError>
where
    S: AuditStore + TransparencyLog,
    W: Write,
{
    let head = checkpoint.head();
    if from_seq == 0 || from_seq > to_seq || to_seq > head.size {
        return Err(StoreError::InvalidRequest(format!(
            "bundle range {from_seq}..={to_seq} must lie within 1..={} (the checkpoint)",
            head.size
        )));
    }
    let header = BundleHeader {
        format: TENANT_BUNDLE_FORMAT.into(),
        version: TENANT_BUNDLE_VERSION,
        leaf_version: LEAF_VERSION,
        from_seq,
        to_seq,
        checkpoint: checkpoint.clone(),
        frontier: Vec::new(),
        consistency: Vec::new(),
        tenant: Some(store.tenant().to_owned()),
    };
    write_line(&mut out, &header)?;
    let mut scratch = Vec::with_capacity(512);
    let mut records = 0u64;
    let mut pages = TenantPages::new(from_seq, to_seq);
    while let Some(page) = pages.next(store).await? {
        let proofs = prove_all(store.unscoped(), &page, head.size).await?;
        for (record, proof) in page.iter().zip(proofs) {
            let leaf = leaf_hash_with_scratch(&record.event, &mut scratch);
            let proof = proof?;
            if proof.verify(&leaf, &head).is_err() {
                return Err(StoreError::InvalidRequest(format!(
                    "seq {} is not proven in the checkpoint of {} events: the store does not \
                     match it (verify the log against the checkpoint)",
                    record.seq, head.size
                )));
            }
            write_line(
                &mut out,
                &LineOut {
                    record,
                    leaf_hash: leaf,
                    proof: &proof.hashes,
                },
            )?;
            records += 1;
        }
    }
    write_line(&mut out, &End { records })?;
    out.flush()?;
    Ok(BundleSummary { header, records })
}

fn write_line<W: Write>(out: &mut W, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")
}

/// Checks the lines after a tenant bundle's header (see [`super::verify_bundle`]).
pub(super) fn verify_records(
    header: &BundleHeader,
    lines: impl Iterator<Item = std::io::Result<String>>,
    keys: &Keyring,
    mut report: BundleReport,
) -> std::io::Result<BundleReport> {
    let fault = |seq, kind, detail: String| Some(TreeFault { seq, kind, detail });
    let Some(tenant) = header
        .tenant
        .as_deref()
        .filter(|_| header.version == TENANT_BUNDLE_VERSION && header.leaf_version == LEAF_VERSION)
    else {
        report.fault = fault(
            0,
            TreeFaultKind::Malformed,
            format!(
                "unknown tenant bundle version {} (leaf version {}), or no tenant",
                header.version, header.leaf_version
            ),
        );
        return Ok(report);
    };
    let Some(head) = super::signed_range(header, keys, &mut report) else {
        return Ok(report);
    };
    let (from, to) = (header.from_seq, header.to_seq);
    let mut checker = Checker {
        tenant,
        head,
        from,
        to,
        last: None,
        scratch: Vec::with_capacity(512),
    };
    let mut end: Option<u64> = None;
    for (number, line) in lines.enumerate() {
        let line = line?;
        let at = checker.last.map_or(from, |l| l + 1);
        if end.is_some() {
            report.fault = fault(
                at,
                TreeFaultKind::Inserted,
                format!("line {} follows the closing line", number + 2),
            );
            return Ok(report);
        }
        match serde_json::from_str::<LineIn>(&line) {
            Ok(record) => {
                if let Some(f) = checker.check(&record) {
                    report.fault = Some(f);
                    return Ok(report);
                }
                report.records += 1;
            }
            Err(err) => match serde_json::from_str::<End>(&line) {
                Ok(closing) => end = Some(closing.records),
                Err(_) => {
                    report.fault = fault(
                        at,
                        TreeFaultKind::Malformed,
                        format!("line {} is not a record: {err}", number + 2),
                    );
                    return Ok(report);
                }
            },
        }
    }
    let at = checker.last.map_or(from, |l| l + 1);
    report.fault = match end {
        None => fault(
            at,
            TreeFaultKind::Truncated,
            "the bundle ends without its closing line: it was cut short".into(),
        ),
        Some(n) if n != report.records => fault(
            at,
            TreeFaultKind::Truncated,
            format!(
                "the closing line counts {n} records; the bundle holds {}",
                report.records
            ),
        ),
        Some(_) => None,
    };
    Ok(report)
}

/// Judges one record line after another.
struct Checker<'a> {
    tenant: &'a str,
    head: TreeHead,
    from: u64,
    to: u64,
    last: Option<u64>,
    scratch: Vec<u8>,
}

impl Checker<'_> {
    fn check(&mut self, line: &LineIn) -> Option<TreeFault> {
        let seq = line.record.seq;
        let fault = |kind, detail: String| Some(TreeFault { seq, kind, detail });
        if seq < self.from || seq > self.to {
            return fault(
                TreeFaultKind::Inserted,
                format!(
                    "seq {seq} is outside the bundle's range {}..={}",
                    self.from, self.to
                ),
            );
        }
        match self.last {
            Some(last) if seq == last => {
                return fault(TreeFaultKind::Inserted, format!("seq {seq} appears twice"));
            }
            Some(last) if seq < last => {
                return fault(
                    TreeFaultKind::Reordered,
                    format!("seq {seq} comes after seq {last}"),
                );
            }
            _ => {}
        }
        self.last = Some(seq);
        if line.record.event.tenant.as_deref() != Some(self.tenant) {
            return fault(
                TreeFaultKind::ForeignTenant,
                format!(
                    "the record is tenant {:?}'s, not {:?}'s",
                    line.record.event.tenant, self.tenant
                ),
            );
        }
        let leaf = leaf_hash_with_scratch(&line.record.event, &mut self.scratch);
        let proof = InclusionProof {
            seq,
            tree_size: self.head.size,
            hashes: line.proof.clone(),
        };
        let head = self.head;
        if proof.verify(&leaf, &head).is_ok() {
            return match line.leaf_hash {
                Some(listed) if listed != leaf => fault(
                    TreeFaultKind::Malformed,
                    "the record is proven, but its listed leaf_hash is not its own".into(),
                ),
                _ => None,
            };
        }
        let listed_is_proven = line
            .leaf_hash
            .is_some_and(|listed| proof.verify(&listed, &head).is_ok());
        if listed_is_proven {
            return fault(
                TreeFaultKind::Modified,
                "the event's content was changed after it was bundled: its listed leaf is in \
                 the signed tree, its content is not"
                    .into(),
            );
        }
        judge(seq, Ok(proof), |_| false)
    }
}

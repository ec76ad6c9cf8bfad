//! Self-verifying export bundles: records with the signed checkpoint and the proof that
//! they are in it, checked offline with the verifying key alone.
//!
//! A bundle is a JSON Lines file:
//!
//! 1. a header line ([`BundleHeader`]): format and version, the range `from_seq..=to_seq`,
//!    the signed checkpoint, the hashes of the subtrees before the range (`frontier`) and the
//!    consistency proof from the tree that ends at `to_seq` to the checkpoint's tree;
//! 2. one line per record, `from_seq` to `to_seq` in order: the record exactly as the JSON
//!    Lines export writes it, plus its `leaf_hash` (so readers of exports read bundles too).
//!
//! [`verify_bundle`] recomputes each record's leaf from its event, rebuilds the root of the
//! tree that ends at `to_seq` from the frontier and the leaves, and checks it against the
//! signed checkpoint through the consistency proof: `log2(n)` hashes of proof for any range.
//! A record whose content was changed no longer matches its `leaf_hash` and is named; a
//! record removed, repeated or moved breaks the seq order and is named; a bundle whose
//! records *and* leaf hashes were recomputed (no signing key is needed for that) does not
//! reach the signed root and is reported from its first seq. The chain fields (`prev_hash`,
//! `hash`) are carried for reference; with an HMAC chain they cannot be checked without the
//! key, and the tree does not need them.
//!
//! A *tenant bundle* ([`write_tenant_bundle`], format [`TENANT_BUNDLE_FORMAT`]) holds one
//! tenant's records of a range only, each with its own inclusion proof, so that the tenant
//! checks them offline without seeing any other tenant's events; [`verify_bundle`] reads
//! both kinds.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

mod tenant;

pub use tenant::{TENANT_BUNDLE_FORMAT, TENANT_BUNDLE_VERSION, write_tenant_bundle};

use super::verify::{TreeFault, TreeFaultKind};
use super::{
    ConsistencyProof, Frontier, Keyring, SignedCheckpoint, TransparencyLog, TreeHead,
    leaf_hash_with_scratch,
};
use crate::chain::ChainHash;
use crate::event::StoredEvent;
use crate::query::{AuditQuery, Cursor, Order};
use crate::store::{AuditStore, StoreError};

/// The bundle format's name in the header.
pub const BUNDLE_FORMAT: &str = "audit-bundle";
/// The bundle format's version.
pub const BUNDLE_VERSION: u32 = 1;

/// The first line of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleHeader {
    /// [`BUNDLE_FORMAT`], or [`TENANT_BUNDLE_FORMAT`] for a tenant bundle.
    pub format: String,
    /// [`BUNDLE_VERSION`] (or [`TENANT_BUNDLE_VERSION`]).
    pub version: u32,
    /// The leaf entry's version ([`LEAF_VERSION`](super::LEAF_VERSION)).
    pub leaf_version: u8,
    /// The first seq in the bundle.
    pub from_seq: u64,
    /// The last seq in the bundle.
    pub to_seq: u64,
    /// The signed checkpoint the records are proven against.
    pub checkpoint: SignedCheckpoint,
    /// Hashes of the complete subtrees covering the leaves before `from_seq`, largest first
    /// (empty in a tenant bundle, whose records carry their own proofs).
    #[serde(default)]
    pub frontier: Vec<ChainHash>,
    /// Proof that the tree of `to_seq` leaves is a prefix of the checkpoint's tree (empty
    /// in a tenant bundle).
    #[serde(default)]
    pub consistency: Vec<ChainHash>,
    /// The tenant whose records a tenant bundle holds (absent from other bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

#[derive(Serialize)]
struct LineOut<'a> {
    #[serde(flatten)]
    record: &'a StoredEvent,
    leaf_hash: ChainHash,
}

#[derive(Deserialize)]
struct LineIn {
    #[serde(flatten)]
    record: StoredEvent,
    leaf_hash: Option<ChainHash>,
}

/// What [`write_bundle`] (or [`write_tenant_bundle`]) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// The header written.
    pub header: BundleHeader,
    /// Records written.
    pub records: u64,
}

/// Writes the records `from_seq..=to_seq` of `store` as a bundle proven against
/// `checkpoint` (a signed checkpoint of this store's log whose size is at least `to_seq`).
pub async fn write_bundle<S, W>(
    store: &S,
    from_seq: u64,
    to_seq: u64,
    checkpoint: &SignedCheckpoint,
    mut out: W,
) -> Result<BundleSummary, StoreError>
where
    S: AuditStore + TransparencyLog + ?Sized,
    W: Write,
{
    let size = checkpoint.head().size;
    if from_seq == 0 || from_seq > to_seq || to_seq > size {
        return Err(StoreError::InvalidRequest(format!(
            "bundle range {from_seq}..={to_seq} must lie within 1..={size} (the checkpoint)"
        )));
    }
    let before = from_seq - 1;
    let rows: HashMap<_, _> = store
        .tree_rows(&Frontier::rows_for(before))
        .await?
        .into_iter()
        .map(|r| (r.seq, r))
        .collect();
    let frontier = Frontier::from_rows(before, &rows)?;
    let consistency = if to_seq < size {
        store.prove_consistency(to_seq, size).await?.hashes
    } else {
        Vec::new()
    };
    let header = BundleHeader {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        leaf_version: super::LEAF_VERSION,
        from_seq,
        to_seq,
        checkpoint: checkpoint.clone(),
        frontier: frontier.hashes(),
        consistency,
        tenant: None,
    };
    serde_json::to_writer(&mut out, &header).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    let mut scratch = Vec::with_capacity(512);
    let mut cursor = before;
    while cursor < to_seq {
        let page = store
            .query(
                &AuditQuery::new()
                    .order(Order::OldestFirst)
                    .limit(1000)
                    .after(Cursor::after_seq(cursor)),
            )
            .await?;
        if page.events.is_empty() {
            break;
        }
        for record in page.events.iter().take_while(|r| r.seq <= to_seq) {
            if record.seq != cursor + 1 {
                return Err(StoreError::InvalidRequest(format!(
                    "seq {} is not in the store (archived or missing); bundle what it holds",
                    cursor + 1
                )));
            }
            let line = LineOut {
                record,
                leaf_hash: leaf_hash_with_scratch(&record.event, &mut scratch),
            };
            serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            cursor = record.seq;
        }
        if page.next.is_none() {
            break;
        }
    }
    if cursor != to_seq {
        return Err(StoreError::InvalidRequest(format!(
            "the store holds events up to seq {cursor}, not {to_seq}"
        )));
    }
    out.flush()?;
    Ok(BundleSummary {
        header,
        records: to_seq - before,
    })
}

/// The result of [`verify_bundle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    /// The bundle's header, if it could be read.
    pub header: Option<BundleHeader>,
    /// The verified checkpoint head.
    pub head: Option<TreeHead>,
    /// Records read.
    pub records: u64,
    /// The first fault.
    pub fault: Option<TreeFault>,
}

impl BundleReport {
    /// Whether every record of the bundle is proven in the signed log at its seq (and, in a
    /// tenant bundle, is the tenant's).
    pub fn is_valid(&self) -> bool {
        self.fault.is_none() && self.head.is_some()
    }
}

/// The head of `header`'s checkpoint, once it verifies with `keys` and the header's range
/// lies inside it; else `None`, with the fault in `report`.
fn signed_range(
    header: &BundleHeader,
    keys: &Keyring,
    report: &mut BundleReport,
) -> Option<TreeHead> {
    let fault = |seq, kind, detail: String| Some(TreeFault { seq, kind, detail });
    let head = match header.checkpoint.verify(keys) {
        Ok(head) => head,
        Err(err) => {
            report.fault = fault(0, TreeFaultKind::BadCheckpoint, err.to_string());
            return None;
        }
    };
    report.head = Some(head);
    let (from, to) = (header.from_seq, header.to_seq);
    if from == 0 || from > to || to > head.size {
        report.fault = fault(
            from,
            TreeFaultKind::Malformed,
            format!(
                "range {from}..={to} is not inside the checkpoint's {} leaves",
                head.size
            ),
        );
        return None;
    }
    Some(head)
}

/// Verifies a bundle offline, in constant memory, with the log's verifying keys.
///
/// ```
/// # use audit_core::{AuditEvent, AuditSink, sinks::MemorySink};
/// # use audit_core::tlog::{CheckpointPolicy, CheckpointSigner, Keyring, TransparencyLog, bundle};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let signer = CheckpointSigner::generate("audit.example.com/ftms").unwrap();
/// let keys = Keyring::new(signer.verifying_key()).unwrap();
/// let log = MemorySink::new().with_checkpoints(CheckpointPolicy::new(signer));
/// let events: Vec<_> = (0..10).map(|_| AuditEvent::builder("USER_LOGIN").build()).collect();
/// log.write(&events).await.unwrap();
/// let checkpoint = log.sign_checkpoint().await.unwrap().unwrap();
///
/// let mut file = Vec::new();
/// bundle::write_bundle(&log, 3, 7, &checkpoint, &mut file).await.unwrap();
/// let report = bundle::verify_bundle(&file[..], &keys).unwrap();
/// assert!(report.is_valid(), "{report:?}");
/// # });
/// ```
pub fn verify_bundle(input: impl BufRead, keys: &Keyring) -> std::io::Result<BundleReport> {
    let mut lines = input.lines();
    let mut report = BundleReport {
        header: None,
        head: None,
        records: 0,
        fault: None,
    };
    let bad = |seq, kind, detail: String| Some(TreeFault { seq, kind, detail });
    let Some(first) = lines.next().transpose()? else {
        report.fault = bad(0, TreeFaultKind::Malformed, "the bundle is empty".into());
        return Ok(report);
    };
    let header: BundleHeader = match serde_json::from_str(&first) {
        Ok(h) => h,
        Err(err) => {
            report.fault = bad(0, TreeFaultKind::Malformed, format!("bad header: {err}"));
            return Ok(report);
        }
    };
    report.header = Some(header.clone());
    if header.format == TENANT_BUNDLE_FORMAT {
        return tenant::verify_records(&header, lines, keys, report);
    }
    if header.format != BUNDLE_FORMAT
        || header.version != BUNDLE_VERSION
        || header.leaf_version != super::LEAF_VERSION
    {
        report.fault = bad(
            0,
            TreeFaultKind::Malformed,
            format!(
                "unknown bundle {:?} version {} (leaf version {})",
                header.format, header.version, header.leaf_version
            ),
        );
        return Ok(report);
    }
    let Some(head) = signed_range(&header, keys, &mut report) else {
        return Ok(report);
    };
    let (from, to) = (header.from_seq, header.to_seq);
    let Some(start) = Frontier::from_hashes(from - 1, &header.frontier) else {
        report.fault = bad(
            from,
            TreeFaultKind::Malformed,
            "the frontier does not fit the range's start".into(),
        );
        return Ok(report);
    };
    // Two trees: one of the leaves recomputed from the events, one of the leaf hashes the
    // bundle lists. Whichever reaches the signed root tells what was changed.
    let mut computed = start.clone();
    let mut listed = start;
    let mut first_mismatch: Option<u64> = None;
    let mut scratch = Vec::with_capacity(512);
    let mut last = from - 1;
    for (number, line) in lines.enumerate() {
        let line = line?;
        let expected = last + 1;
        let record = match serde_json::from_str::<LineIn>(&line) {
            Ok(r) => r,
            Err(err) => {
                report.fault = bad(
                    expected,
                    TreeFaultKind::Malformed,
                    format!("line {} is not a record: {err}", number + 2),
                );
                return Ok(report);
            }
        };
        let seq = record.record.seq;
        let structural = if seq > to {
            Some((
                seq,
                TreeFaultKind::Inserted,
                format!("seq {seq} is beyond the bundle's range"),
            ))
        } else if seq == last && seq >= from {
            Some((
                seq,
                TreeFaultKind::Inserted,
                format!("seq {seq} appears twice"),
            ))
        } else if seq < expected {
            Some((
                seq,
                TreeFaultKind::Reordered,
                format!("seq {seq} comes after seq {last}"),
            ))
        } else if seq > expected {
            Some((
                expected,
                TreeFaultKind::Missing,
                format!("seq {expected} is absent"),
            ))
        } else {
            None
        };
        if let Some((at, kind, detail)) = structural {
            report.fault = bad(at, kind, detail);
            return Ok(report);
        }
        let leaf = leaf_hash_with_scratch(&record.record.event, &mut scratch);
        let listed_leaf = record.leaf_hash.unwrap_or(leaf);
        if listed_leaf != leaf {
            first_mismatch.get_or_insert(seq);
        }
        computed.append(leaf);
        listed.append(listed_leaf);
        last = seq;
        report.records += 1;
    }
    if last < to {
        report.fault = bad(
            last + 1,
            TreeFaultKind::Truncated,
            format!("the bundle ends at seq {last}; its header says {to}"),
        );
        return Ok(report);
    }
    let proof = ConsistencyProof {
        old_size: to,
        new_size: head.size,
        hashes: header.consistency.clone(),
    };
    let proven = |tree: &Frontier| {
        let root = tree.head();
        if to == head.size {
            root == head
        } else {
            proof.verify(&root, &head).is_ok()
        }
    };
    if proven(&computed) {
        return Ok(report);
    }
    report.fault = match (first_mismatch, proven(&listed)) {
        (Some(seq), true) => bad(
            seq,
            TreeFaultKind::Modified,
            "the event's content does not match its signed leaf".into(),
        ),
        _ => bad(
            from,
            TreeFaultKind::Rewritten,
            format!(
                "records {from}..={to} do not reach the signed root of {} leaves: the bundle \
                 was rewritten (records and their leaf hashes) or its proof altered",
                head.size
            ),
        ),
    };
    Ok(report)
}

//! Checking a store against a signed checkpoint: truncation, rewrites, rollbacks and forks.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{
    Frontier, Keyring, SignedCheckpoint, TransparencyLog, TreeHead, leaf_hash_with_scratch,
};
use crate::query::{AuditQuery, Cursor, Order};
use crate::store::{AuditStore, StoreError};

/// What is wrong with a log, judged against a signed checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TreeFaultKind {
    /// The checkpoint is not signed by the keyring's key, or names another log.
    BadCheckpoint,
    /// The log holds fewer events than the checkpoint vouches for.
    Truncated,
    /// A seq the checkpoint covers is absent.
    Missing,
    /// A record that is not part of the log was added (a repeated seq, or one beyond the
    /// range).
    Inserted,
    /// Records are out of seq order.
    Reordered,
    /// A line of a bundle is not a record (or its header is not a bundle header).
    Malformed,
    /// The event at this seq is not the one the signed tree holds (changed, inserted or
    /// moved), while the stored tree still matches the checkpoint.
    Modified,
    /// From this seq on the log is not the signed one, and its tree was recomputed to match
    /// (a whole rewrite, or a rollback to an older state that then grew again).
    Rewritten,
    /// The key signed two different trees: two checkpoints of one size with different
    /// roots, or two that are not consistent.
    Forked,
    /// The events match the checkpoint but the stored tree rows do not: proofs from this
    /// store would fail.
    TreeTampered,
    /// The store cannot build the inclusion proof of this event (tree rows it needs are
    /// missing or corrupt), so nothing shows it is in the signed tree.
    Unproven,
    /// A record of another tenant (or of none) in what should hold one tenant's records
    /// only (a tenant bundle).
    ForeignTenant,
}

/// The first fault found against a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("tree fault at seq {seq}: {kind:?}: {detail}")]
pub struct TreeFault {
    /// The first bad seq.
    pub seq: u64,
    /// What is wrong there.
    pub kind: TreeFaultKind,
    /// A sentence for people.
    pub detail: String,
}

/// The result of [`verify_log`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeReport {
    /// The verified head the log was checked against (`None` when the checkpoint did not
    /// verify).
    pub head: Option<TreeHead>,
    /// Events whose leaves were recomputed.
    pub checked: u64,
    /// The first fault, if any.
    pub fault: Option<TreeFault>,
}

impl TreeReport {
    /// Whether the log holds exactly the events the checkpoint vouches for.
    pub fn is_valid(&self) -> bool {
        self.fault.is_none() && self.head.is_some()
    }
}

fn fault(seq: u64, kind: TreeFaultKind, detail: impl Into<String>) -> Option<TreeFault> {
    Some(TreeFault {
        seq,
        kind,
        detail: detail.into(),
    })
}

/// Two checkpoints of one log are a fork when they state the same size with different
/// roots (both must already be verified: a forged one proves nothing).
pub fn check_fork(a: &TreeHead, b: &TreeHead) -> Option<TreeFault> {
    if a.size != b.size || a.root == b.root {
        return None;
    }
    Some(TreeFault {
        seq: a.size,
        kind: TreeFaultKind::Forked,
        detail: format!(
            "two signed checkpoints of {} leaves have different roots ({} and {})",
            a.size, a.root, b.root
        ),
    })
}

/// Verifies that `store` holds exactly the events `checkpoint` vouches for.
///
/// Recomputes every leaf from the stored events (streaming, in pages), the root at the
/// checkpoint's size and at every stored checkpoint that verifies with `keys`, and compares
/// them; an archived prefix enters through its stored tree rows. The fault names a seq:
///
/// - fewer events than the checkpoint: [`Truncated`](TreeFaultKind::Truncated) at the first
///   missing seq;
/// - the stored tree still matches the checkpoint: the first event whose leaf differs from
///   the stored one is [`Modified`](TreeFaultKind::Modified), unless its audit path (which
///   does not read its own row) proves the event genuine: then the row was changed
///   ([`TreeTampered`](TreeFaultKind::TreeTampered));
/// - the tree was recomputed too (no signing key was needed for that, so it does not
///   match): [`Rewritten`](TreeFaultKind::Rewritten) from the first seq after the newest
///   stored, verifying checkpoint that still matches the events;
/// - a stored, verifying checkpoint of the same size with another root:
///   [`Forked`](TreeFaultKind::Forked).
pub async fn verify_log<S>(
    store: &S,
    checkpoint: &SignedCheckpoint,
    keys: &Keyring,
) -> Result<TreeReport, StoreError>
where
    S: AuditStore + TransparencyLog + ?Sized,
{
    let head = match checkpoint.verify(keys) {
        Ok(head) => head,
        Err(err) => {
            return Ok(TreeReport {
                head: None,
                checked: 0,
                fault: fault(0, TreeFaultKind::BadCheckpoint, err.to_string()),
            });
        }
    };
    let report = |checked, fault| {
        Ok(TreeReport {
            head: Some(head),
            checked,
            fault,
        })
    };
    let last = store.head().await?.map_or(0, |h| h.seq);
    let size = store.tree_size().await?.min(last);
    if size < head.size {
        return report(
            0,
            fault(
                size + 1,
                TreeFaultKind::Truncated,
                format!(
                    "the log ends at seq {size}; the checkpoint vouches for {} events",
                    head.size
                ),
            ),
        );
    }

    // The other signed checkpoints the store holds are trusted roots too.
    let mut trusted: Vec<TreeHead> = Vec::new();
    let mut from = 1;
    loop {
        let page = store.checkpoints(from, 1000).await?;
        let Some(newest) = page.last().map(|c| c.head().size) else {
            break;
        };
        for stored in &page {
            if let Ok(h) = stored.verify(keys)
                && h.size <= head.size
            {
                if let Some(fork) = check_fork(&h, &head) {
                    return report(0, Some(fork));
                }
                trusted.push(h);
            }
        }
        if page.len() < 1000 {
            break;
        }
        from = newest + 1;
    }
    trusted.retain(|h| h.size < head.size && h.size > 0);
    trusted.push(head);

    let stored_root = store.tree_head_at(head.size).await.ok();
    let tree_genuine = stored_root == Some(head);

    // Stream the live events, recomputing leaves into a frontier that starts at the
    // archive anchor (from stored rows).
    let first = store
        .query(&AuditQuery::new().order(Order::OldestFirst).limit(1))
        .await?
        .events
        .first()
        .map_or(head.size + 1, |r| r.seq);
    let anchor = first.saturating_sub(1).min(head.size);
    let mut frontier = if anchor == 0 {
        Frontier::new()
    } else {
        let seqs = Frontier::rows_for(anchor);
        let rows: HashMap<_, _> = store
            .tree_rows(&seqs)
            .await?
            .into_iter()
            .map(|r| (r.seq, r))
            .collect();
        match Frontier::from_rows(anchor, &rows) {
            Ok(f) => f,
            Err(err) => {
                return report(
                    0,
                    fault(
                        1,
                        TreeFaultKind::Rewritten,
                        format!("archived prefix: {err}"),
                    ),
                );
            }
        }
    };
    let mut next_trusted = trusted.iter().filter(|t| t.size > anchor).peekable();
    let mut last_good = trusted
        .iter()
        .filter(|t| t.size <= anchor)
        .map(|t| t.size)
        .max()
        .unwrap_or(0);
    let mut first_modified: Option<(u64, crate::chain::ChainHash)> = None;
    let mut first_tree_mismatch: Option<u64> = None;
    let mut checked = 0u64;
    let mut scratch = Vec::with_capacity(512);
    let mut cursor = anchor;
    let mut rewritten: Option<(u64, u64)> = None;
    while cursor < head.size {
        let page = store
            .query(
                &AuditQuery::new()
                    .order(Order::OldestFirst)
                    .limit(1000)
                    .after(Cursor::after_seq(cursor)),
            )
            .await?;
        if page.events.is_empty() {
            return report(
                checked,
                fault(
                    cursor + 1,
                    TreeFaultKind::Missing,
                    format!("no event at seq {} or after", cursor + 1),
                ),
            );
        }
        let seqs: Vec<u64> = page.events.iter().map(|r| r.seq).collect();
        let rows: HashMap<_, _> = store
            .tree_rows(&seqs)
            .await?
            .into_iter()
            .map(|r| (r.seq, r.leaf()))
            .collect();
        for record in &page.events {
            if record.seq > head.size {
                break;
            }
            if record.seq != cursor + 1 {
                return report(
                    checked,
                    fault(
                        cursor + 1,
                        TreeFaultKind::Missing,
                        format!(
                            "seq {} is absent (the next stored is {})",
                            cursor + 1,
                            record.seq
                        ),
                    ),
                );
            }
            cursor = record.seq;
            let leaf = leaf_hash_with_scratch(&record.event, &mut scratch);
            if rows.get(&record.seq) != Some(&leaf) {
                first_tree_mismatch.get_or_insert(record.seq);
                if first_modified.is_none() && tree_genuine {
                    first_modified = Some((record.seq, leaf));
                }
            }
            frontier.append(leaf);
            checked += 1;
            if let Some(t) = next_trusted.peek()
                && t.size == frontier.size()
            {
                if frontier.root() == t.root {
                    last_good = t.size;
                } else if rewritten.is_none() {
                    rewritten = Some((last_good, t.size));
                }
                next_trusted.next();
            }
        }
    }

    if let Some((seq, leaf)) = first_modified {
        // The stored leaf differs from the event's, under a root that matches: which of the
        // two is genuine is told by the audit path, which does not read the leaf's own row.
        let event_is_genuine = store
            .prove_inclusion(seq, head.size)
            .await
            .is_ok_and(|proof| proof.verify(&leaf, &head).is_ok());
        return report(
            checked,
            if event_is_genuine {
                fault(
                    seq,
                    TreeFaultKind::TreeTampered,
                    "the event is genuine, but its stored tree row was changed",
                )
            } else {
                fault(
                    seq,
                    TreeFaultKind::Modified,
                    "the event is not the one the signed tree holds at this seq",
                )
            },
        );
    }
    if let Some((good, bad)) = rewritten {
        return report(
            checked,
            fault(
                good + 1,
                TreeFaultKind::Rewritten,
                format!(
                    "the events up to seq {good} match a signed checkpoint; the signed tree of \
                     {bad} leaves does not match the events after it, nor does the stored tree"
                ),
            ),
        );
    }
    if !tree_genuine {
        let seq = first_tree_mismatch.unwrap_or(anchor + 1);
        return report(
            checked,
            fault(
                seq,
                TreeFaultKind::TreeTampered,
                "the events match the checkpoint, but the stored tree rows do not",
            ),
        );
    }
    report(checked, None)
}

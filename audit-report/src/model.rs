//! The report model both formats render: the query used, summary counts, highlighted
//! events, and the verification statement of the listed range.

use audit_core::chain::{ChainFault, ChainHasher, FaultKind};
use audit_core::event::now_micros;
use audit_core::query::{ActionFilter, AuditQuery, CountBy, Cursor, GroupCount, Order};
use audit_core::store::VerifyScope;
use audit_core::{AuditStore, Category, Outcome, StoredEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Result;

/// How many of the newest events each highlight section lists by default.
pub const DEFAULT_HIGHLIGHT_ROWS: u32 = 20;

/// How often [`Report::gather`] retries when events arrive while it counts.
const GATHER_ATTEMPTS: usize = 4;

/// The chain algorithm of the store, and a fingerprint of its HMAC key, for the verification
/// statement ("verified with HMAC-SHA256, key 3f9a…"). The fingerprint identifies the key
/// without revealing it: the first 8 bytes of the keyed hash of a fixed label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainInfo {
    /// `sha256` or `hmac-sha256`.
    pub algorithm: String,
    /// Hex fingerprint of the HMAC key (`None` for plain SHA-256).
    pub key_id: Option<String>,
}

impl ChainInfo {
    /// The algorithm and key fingerprint of `hasher`.
    pub fn of(hasher: &ChainHasher) -> Self {
        let algorithm = hasher.algorithm();
        let key_id =
            matches!(algorithm, audit_core::chain::ChainAlgorithm::HmacSha256).then(|| {
                let digest = hasher.hash_bytes(b"audit-report key fingerprint v1");
                hex::encode(&digest.as_bytes()[..8])
            });
        Self {
            algorithm: algorithm.as_str().into(),
            key_id,
        }
    }
}

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// The report's title.
    pub title: String,
    /// The events to report (its order, limit and cursor are ignored: a report lists every
    /// match, oldest first).
    pub query: AuditQuery,
    /// The chain algorithm and key fingerprint, for the verification statement.
    pub chain: ChainInfo,
    /// How many of the newest events each highlight section lists.
    pub highlight_rows: u32,
}

impl ReportRequest {
    /// A report titled `title` over `query`, verified with `hasher`.
    pub fn new(title: impl Into<String>, query: AuditQuery, hasher: &ChainHasher) -> Self {
        Self {
            title: title.into(),
            query,
            chain: ChainInfo::of(hasher),
            highlight_rows: DEFAULT_HIGHLIGHT_ROWS,
        }
    }
}

/// The seqs of the first and last listed events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeqRange {
    /// The oldest matching event's seq.
    pub first: u64,
    /// The newest matching event's seq when the report was gathered; the listing stops there.
    pub last: u64,
}

/// Counts of the listed events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How many events match.
    pub total: u64,
    /// By outcome (`success`, `failure`, `denied`), every outcome listed.
    pub by_outcome: Vec<GroupCount>,
    /// By action code, sorted by key.
    pub by_action: Vec<GroupCount>,
    /// By actor id (`""` for events without one), sorted by key.
    pub by_actor: Vec<GroupCount>,
    /// By UTC day (`YYYY-MM-DD`), sorted.
    pub by_day: Vec<GroupCount>,
}

/// A highlighted class of events: how many, and the newest few.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Highlight {
    /// The section's title.
    pub title: String,
    /// How many listed events belong to it.
    pub count: u64,
    /// The newest of them (at most [`ReportRequest::highlight_rows`]), newest first.
    pub newest: Vec<StoredEvent>,
}

/// The verification statement of the listed range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The chain algorithm and key fingerprint used.
    pub chain: ChainInfo,
    /// The verified range (the listed one); `None` when nothing matched.
    pub range: Option<SeqRange>,
    /// How many records verified.
    pub checked: u64,
    /// The hash of the last verified record (the range's head), hex.
    pub head_hash: Option<String>,
    /// The first fault, if any.
    pub fault: Option<ChainFault>,
    /// When the verification ran.
    pub verified_at: DateTime<Utc>,
}

impl Verification {
    /// Whether the chain verified over the whole range.
    pub fn is_valid(&self) -> bool {
        self.fault.is_none()
    }

    /// One sentence for people: "Chain valid from seq A to B (N records), head …" or the fault.
    pub fn statement(&self) -> String {
        match (&self.fault, self.range) {
            (Some(fault), _) => format!(
                "CHAIN FAULT at seq {}: {} ({})",
                fault.seq,
                fault_name(fault.kind),
                fault.detail
            ),
            (None, None) => "No events matched: nothing to verify.".into(),
            (None, Some(range)) => format!(
                "Chain valid from seq {} to {} ({} records verified).",
                range.first, range.last, self.checked
            ),
        }
    }
}

/// The stable lowercase name of a fault kind (`modified`, `missing`, ...).
pub fn fault_name(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Modified => "modified",
        FaultKind::Missing => "missing",
        FaultKind::Inserted => "inserted",
        FaultKind::Reordered => "reordered",
        FaultKind::Truncated => "truncated",
        FaultKind::Unverifiable => "unverifiable",
        _ => "fault",
    }
}

/// Everything a report shows except the listing itself, which is streamed from the store
/// page by page when the report is written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The report's title.
    pub title: String,
    /// The filters used (order oldest first, no limit, no cursor).
    pub query: AuditQuery,
    /// When the report was gathered.
    pub generated_at: DateTime<Utc>,
    /// The listed range; `None` when nothing matched.
    pub range: Option<SeqRange>,
    /// Counts of the listed events.
    pub summary: Summary,
    /// Failed logins, denials and fired alerts among the listed events.
    pub highlights: Vec<Highlight>,
    /// The verification statement of the listed range.
    pub verification: Verification,
}

impl Report {
    /// Reads the model from `store`: the range of matching events, their counts (taken so
    /// that they describe exactly the events up to the range's last seq: when events arrive
    /// while counting, the counts are taken again), the highlight sections, and a
    /// verification of the range's chain. Memory is bounded by the number of distinct
    /// actions, actors and days, not by the number of events.
    pub async fn gather<S: AuditStore + ?Sized>(store: &S, request: ReportRequest) -> Result<Self> {
        let mut query = request.query.clone();
        query.order = Order::OldestFirst;
        query.limit = None;
        query.cursor = None;

        let mut last = newest_seq(store, &query).await?;
        let mut summary = summarize(store, &query).await?;
        for _ in 1..GATHER_ATTEMPTS {
            let now = newest_seq(store, &query).await?;
            if now == last {
                break;
            }
            last = now;
            summary = summarize(store, &query).await?;
        }
        let range = match last {
            Some(last) => {
                let first = store.query(&query.clone().limit(1)).await?;
                first
                    .events
                    .first()
                    .map(|e| SeqRange { first: e.seq, last })
            }
            None => None,
        };
        let highlights = highlights(store, &query, range, request.highlight_rows).await?;
        let verification = verify(store, range, request.chain).await?;
        Ok(Self {
            title: request.title,
            query,
            generated_at: now_micros(),
            range,
            summary,
            highlights,
            verification,
        })
    }

    /// The filters used, as `name = value` lines for people (empty when none).
    pub fn filters(&self) -> Vec<(String, String)> {
        describe_filters(&self.query)
    }
}

async fn newest_seq<S: AuditStore + ?Sized>(store: &S, query: &AuditQuery) -> Result<Option<u64>> {
    let page = store
        .query(&query.clone().order(Order::NewestFirst).limit(1))
        .await?;
    Ok(page.events.first().map(|e| e.seq))
}

async fn summarize<S: AuditStore + ?Sized>(store: &S, query: &AuditQuery) -> Result<Summary> {
    let mut by_outcome = Vec::new();
    for outcome in [Outcome::Success, Outcome::Failure, Outcome::Denied] {
        let count = match narrowed_outcome(query, outcome) {
            Some(q) => store.count(&q).await?,
            None => 0,
        };
        by_outcome.push(GroupCount {
            key: outcome.as_str().into(),
            count,
        });
    }
    Ok(Summary {
        total: store.count(query).await?,
        by_outcome,
        by_action: store.count_by(query, CountBy::Action).await?,
        by_actor: store.count_by(query, CountBy::Actor).await?,
        by_day: store.count_by(query, CountBy::Day).await?,
    })
}

/// `query` narrowed to `outcome`, or `None` when its own outcome filter excludes it.
fn narrowed_outcome(query: &AuditQuery, outcome: Outcome) -> Option<AuditQuery> {
    match query.outcome {
        Some(own) if own != outcome => None,
        _ => Some(query.clone().outcome(outcome)),
    }
}

/// `query` narrowed to one action code, or `None` when its own action filter excludes it.
fn narrowed_action(query: &AuditQuery, code: &str) -> Option<AuditQuery> {
    let accepted = match &query.action {
        None => true,
        Some(ActionFilter::Exact(own)) => own == code,
        Some(ActionFilter::Prefix(prefix)) => code.starts_with(prefix.as_str()),
    };
    accepted.then(|| query.clone().action(code))
}

async fn highlights<S: AuditStore + ?Sized>(
    store: &S,
    query: &AuditQuery,
    range: Option<SeqRange>,
    rows: u32,
) -> Result<Vec<Highlight>> {
    let failed_logins = narrowed_outcome(query, Outcome::Failure).and_then(|q| match q.category {
        Some(own) if own != Category::Authentication => None,
        _ => Some(q.category(Category::Authentication)),
    });
    let sections = [
        ("Failed logins", failed_logins),
        ("Denials", narrowed_outcome(query, Outcome::Denied)),
        ("Alerts", narrowed_action(query, audit_alert::ALERT_ACTION)),
    ];
    let mut out = Vec::with_capacity(sections.len());
    for (title, q) in sections {
        let (count, newest) = match (q, range) {
            (Some(q), Some(range)) => {
                let count = store.count(&q).await?;
                // Newest first from just after the range's end, so late arrivals stay out.
                let page = store
                    .query(
                        &q.order(Order::NewestFirst)
                            .limit(rows.max(1))
                            .after(Cursor::after_seq(range.last.saturating_add(1))),
                    )
                    .await?;
                let mut newest = page.events;
                newest.truncate(rows as usize);
                (count, newest)
            }
            _ => (0, Vec::new()),
        };
        out.push(Highlight {
            title: title.into(),
            count,
            newest,
        });
    }
    Ok(out)
}

async fn verify<S: AuditStore + ?Sized>(
    store: &S,
    range: Option<SeqRange>,
    chain: ChainInfo,
) -> Result<Verification> {
    let Some(range) = range else {
        return Ok(Verification {
            chain,
            range: None,
            checked: 0,
            head_hash: None,
            fault: None,
            verified_at: now_micros(),
        });
    };
    let report = store
        .verify(
            VerifyScope::Range {
                from: range.first,
                to: range.last,
            },
            None,
        )
        .await?;
    Ok(Verification {
        chain,
        range: Some(range),
        checked: report.checked,
        head_hash: report.head.map(|h| h.hash.to_hex()),
        fault: report.fault,
        verified_at: now_micros(),
    })
}

fn describe_filters(q: &AuditQuery) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push((name.to_owned(), value));
        }
    };
    push("actor", q.actor.clone());
    push(
        "action",
        q.action.as_ref().map(|a| match a {
            ActionFilter::Exact(code) => code.clone(),
            ActionFilter::Prefix(prefix) => format!("{prefix}*"),
        }),
    );
    push("category", q.category.map(|c| c.as_str().to_owned()));
    push("outcome", q.outcome.map(|o| o.as_str().to_owned()));
    push("entity type", q.entity_type.clone());
    push("entity id", q.entity_id.clone());
    push("since", q.since.map(|t| t.to_rfc3339()));
    push("until", q.until.map(|t| t.to_rfc3339()));
    push("ip in", q.ip_net.map(|n| n.to_string()));
    push("request id", q.request_id.clone());
    push("tenant", q.tenant.clone());
    push("description contains", q.description_contains.clone());
    out
}

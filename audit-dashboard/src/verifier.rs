//! Verification with progress: the chain is checked in chunks by a background task, so a
//! long run shows how far it got, and the page never waits for it.
//!
//! Each chunk is one `AuditStore::verify(VerifyScope::Range { from, to })`. A range is
//! anchored at the stored hash of the record just before it, which the previous chunk
//! verified, so consecutive chunks check every link exactly as one run over the whole range
//! would; the first fault stops the run. The last result is kept for the overview, and
//! recorded as an `AUDIT_CHAIN_VERIFIED` event, from which it is read back when the
//! dashboard starts again.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use audit_core::query::{AuditQuery, Order};
use audit_core::store::VerifyScope;
use audit_core::{AuditStore, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::record;

/// The oldest stored record (after any archived range) and the head's seq (0 when empty).
pub(crate) async fn log_bounds(
    store: &dyn AuditStore,
) -> Result<(Option<audit_core::StoredEvent>, u64), StoreError> {
    let head = store.head().await?.map_or(0, |c| c.seq);
    let oldest = AuditQuery::new().order(Order::OldestFirst).limit(1);
    let first = store.query(&oldest).await?.events.into_iter().next();
    Ok((first, head))
}

/// What to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope")]
pub(crate) enum Scope {
    /// From the first stored record to the head when the run starts.
    All,
    /// `from <= seq <= to`.
    Range { from: u64, to: u64 },
}

/// A run in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Progress {
    pub by: String,
    pub started_at: DateTime<Utc>,
    pub from: u64,
    pub to: u64,
    /// Records verified so far.
    pub checked: u64,
}

impl Progress {
    /// Records the run will check in all.
    pub(crate) fn total(&self) -> u64 {
        if self.to < self.from {
            0
        } else {
            self.to - self.from + 1
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub(crate) enum Verdict {
    /// Every record in the range verified.
    Valid,
    /// The first bad record, and what is wrong with it.
    Fault {
        seq: u64,
        kind: String,
        detail: String,
    },
    /// The store could not be read to the end; nothing is known about the rest.
    Error { message: String },
}

/// A finished run, as the overview and the verify page show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Finished {
    pub by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub from: u64,
    pub to: u64,
    pub checked: u64,
    pub verdict: Verdict,
}

impl Finished {
    pub(crate) fn is_valid(&self) -> bool {
        self.verdict == Verdict::Valid
    }

    /// One line: "valid: 1 000 000 records (seq 1 to 1 000 000)".
    pub(crate) fn summary(&self) -> String {
        let range = if self.checked == 0 && self.to < self.from {
            "an empty log".to_owned()
        } else {
            format!("seq {} to {}", self.from, self.to)
        };
        match &self.verdict {
            Verdict::Valid => format!("valid: {} records checked ({range})", self.checked),
            Verdict::Fault { seq, kind, .. } => {
                format!(
                    "{kind} record at seq {seq} ({} verified before it)",
                    self.checked
                )
            }
            Verdict::Error { message } => format!("could not finish: {message}"),
        }
    }
}

/// Why a run was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StartError {
    #[error("a verification is already running")]
    AlreadyRunning,
    #[error("the range {from} to {to} is empty")]
    EmptyRange { from: u64, to: u64 },
}

#[derive(Debug, Default)]
struct State {
    running: Option<Progress>,
    last: Option<Finished>,
}

/// The verification runs of one dashboard.
pub(crate) struct Verifier {
    store: Arc<dyn AuditStore>,
    chunk: u64,
    state: Mutex<State>,
    restored: OnceCell<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("chunk", &self.chunk)
            .field("state", &*self.lock())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub(crate) fn new(store: Arc<dyn AuditStore>, chunk: u64) -> Arc<Self> {
        Arc::new(Self {
            store,
            chunk: chunk.max(1),
            state: Mutex::new(State::default()),
            restored: OnceCell::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The run in progress and the last finished one. The first call reads the last
    /// result back from the log, so it survives a restart.
    pub(crate) async fn status(&self) -> (Option<Progress>, Option<Finished>) {
        self.restored
            .get_or_init(|| async {
                if let Some(found) = self.last_recorded().await {
                    let mut state = self.lock();
                    if state.last.is_none() {
                        state.last = Some(found);
                    }
                }
            })
            .await;
        let state = self.lock();
        (state.running.clone(), state.last.clone())
    }

    async fn last_recorded(&self) -> Option<Finished> {
        let query = AuditQuery::new()
            .action(record::codes::AUDIT_CHAIN_VERIFIED)
            .order(Order::NewestFirst)
            .limit(1);
        let page = self.store.query(&query).await.ok()?;
        let event = &page.events.first()?.event;
        serde_json::from_value(event.metadata.get("result")?.clone()).ok()
    }

    /// Starts a run in the background (carrying the caller's audit context, so the result
    /// is recorded as the viewer's action).
    pub(crate) async fn start(self: &Arc<Self>, scope: Scope, by: &str) -> Result<(), StartError> {
        let (from, to) = match scope {
            Scope::Range { from, to } => (from, to),
            Scope::All => match self.bounds().await {
                Ok(bounds) => bounds,
                Err(err) => {
                    self.finish(
                        Progress {
                            by: by.to_owned(),
                            started_at: Utc::now(),
                            from: 0,
                            to: 0,
                            checked: 0,
                        },
                        Verdict::Error {
                            message: err.to_string(),
                        },
                    );
                    return Ok(());
                }
            },
        };
        if matches!(scope, Scope::Range { .. }) && (from == 0 || from > to) {
            return Err(StartError::EmptyRange { from, to });
        }
        let progress = Progress {
            by: by.to_owned(),
            started_at: Utc::now(),
            from,
            to,
            checked: 0,
        };
        {
            let mut state = self.lock();
            if state.running.is_some() {
                return Err(StartError::AlreadyRunning);
            }
            state.running = Some(progress.clone());
        }
        let this = Arc::clone(self);
        audit_core::context::spawn(async move { this.run(progress).await });
        Ok(())
    }

    /// The first stored seq and the head (`from > to` for an empty log).
    async fn bounds(&self) -> Result<(u64, u64), StoreError> {
        let (first, head) = log_bounds(&*self.store).await?;
        Ok((first.map_or(head + 1, |r| r.seq), head))
    }

    async fn run(&self, mut progress: Progress) {
        let mut next = progress.from;
        while next <= progress.to {
            let to = next.saturating_add(self.chunk - 1).min(progress.to);
            let report = match self
                .store
                .verify(VerifyScope::Range { from: next, to }, None)
                .await
            {
                Ok(report) => report,
                Err(err) => {
                    let message = err.to_string();
                    return self.finish(progress, Verdict::Error { message });
                }
            };
            progress.checked += report.checked;
            if let Some(fault) = report.fault {
                let kind = format!("{:?}", fault.kind).to_lowercase();
                return self.finish(
                    progress,
                    Verdict::Fault {
                        seq: fault.seq,
                        kind,
                        detail: fault.detail,
                    },
                );
            }
            if let Some(running) = &mut self.lock().running {
                running.checked = progress.checked;
            }
            if to == u64::MAX {
                break;
            }
            next = to + 1;
            tokio::task::yield_now().await;
        }
        self.finish(progress, Verdict::Valid);
    }

    fn finish(&self, progress: Progress, verdict: Verdict) {
        let finished = Finished {
            by: progress.by,
            started_at: progress.started_at,
            finished_at: Utc::now(),
            from: progress.from,
            to: progress.to,
            checked: progress.checked,
            verdict,
        };
        record::verified(
            finished.is_valid(),
            &finished.summary(),
            serde_json::to_value(&finished).unwrap_or_default(),
        );
        let mut state = self.lock();
        state.running = None;
        state.last = Some(finished);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::sinks::MemorySink;
    use audit_core::{AuditEvent, AuditSink, testing};
    use std::time::Duration;

    async fn filled(n: usize) -> MemorySink {
        let sink = MemorySink::new();
        let events: Vec<_> = (0..n).map(|_| AuditEvent::builder("A").build()).collect();
        sink.write(&events).await.unwrap();
        sink
    }

    async fn wait_done(v: &Verifier) -> Finished {
        for _ in 0..500 {
            let (running, last) = v.status().await;
            if running.is_none()
                && let Some(last) = last
            {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("verification did not finish");
    }

    #[tokio::test]
    async fn a_whole_chain_verifies_in_chunks_and_the_result_is_recorded() {
        let sink = filled(25).await;
        let v = Verifier::new(Arc::new(sink), 10);
        let (done, captured) = testing::capture_async(async {
            v.start(Scope::All, "admin").await.unwrap();
            wait_done(&v).await
        })
        .await;
        assert_eq!(done.verdict, Verdict::Valid);
        assert_eq!((done.from, done.to, done.checked), (1, 25, 25));
        let event = captured.single_by_action(record::codes::AUDIT_CHAIN_VERIFIED);
        assert_eq!(event.metadata["result"]["verdict"]["status"], "valid");
    }

    #[tokio::test]
    async fn a_fault_in_a_later_chunk_names_its_seq_and_kind() {
        let sink = filled(25).await;
        sink.tamper_modify(17, |r| r.event.description = Some("edited".into()));
        let v = Verifier::new(Arc::new(sink), 10);
        v.start(Scope::All, "admin").await.unwrap();
        let done = wait_done(&v).await;
        assert_eq!(
            done.verdict,
            Verdict::Fault {
                seq: 17,
                kind: "modified".into(),
                detail: match &done.verdict {
                    Verdict::Fault { detail, .. } => detail.clone(),
                    _ => unreachable!(),
                },
            }
        );
        assert_eq!(done.checked, 16);
        assert!(!done.is_valid());
    }

    #[tokio::test]
    async fn a_second_run_is_refused_while_one_is_running() {
        let sink = filled(5).await;
        let v = Verifier::new(Arc::new(sink), 1);
        v.lock().running = Some(Progress {
            by: "x".into(),
            started_at: Utc::now(),
            from: 1,
            to: 5,
            checked: 0,
        });
        assert_eq!(
            v.start(Scope::All, "admin").await,
            Err(StartError::AlreadyRunning)
        );
    }

    #[tokio::test]
    async fn the_last_result_is_read_back_from_the_log() {
        let sink = filled(3).await;
        let finished = Finished {
            by: "admin".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            from: 1,
            to: 3,
            checked: 3,
            verdict: Verdict::Valid,
        };
        let event = AuditEvent::builder(record::codes::AUDIT_CHAIN_VERIFIED)
            .metadata(serde_json::json!({ "result": finished }))
            .build();
        sink.write(&[event]).await.unwrap();
        let v = Verifier::new(Arc::new(sink), 10);
        assert_eq!(v.status().await.1, Some(finished));
    }

    #[tokio::test]
    async fn an_empty_log_verifies_as_valid_with_nothing_checked() {
        let v = Verifier::new(Arc::new(MemorySink::new()), 10);
        v.start(Scope::All, "admin").await.unwrap();
        let done = wait_done(&v).await;
        assert!(done.is_valid());
        assert_eq!(done.checked, 0);
        assert_eq!(done.summary(), "valid: 0 records checked (an empty log)");
    }
}

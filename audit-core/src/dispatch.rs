//! Routing recorded events to the current auditor: a scoped override, else the global one.
//!
//! Libraries and `#[audited]` functions call [`record`] and never hold an
//! [`Auditor`]; the application decides where events go:
//!
//! - [`set_global`] installs the process-wide default;
//! - [`Auditor::scope`] / [`Auditor::sync_scope`] override it for one future or closure (tests,
//!   multi-tenant services with one auditor per tenant);
//! - [`testing::capture`](crate::testing::capture) is a scoped override that keeps events in
//!   memory.
//!
//! With no auditor at all, recording is a no-op that is counted ([`unrouted_count`]) and
//! warned about once through `tracing`; it never panics.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::context::AuditContext;
use crate::event::AuditEvent;
use crate::pipeline::{Auditor, Recorded};
use crate::testing::CaptureState;

tokio::task_local! {
    static SCOPED: Option<Dispatch>;
}

static GLOBAL: RwLock<Option<Auditor>> = RwLock::new(None);
static UNROUTED: AtomicU64 = AtomicU64::new(0);
static WARNED_UNROUTED: AtomicBool = AtomicBool::new(false);

/// A cheap handle on where events go, captured once and usable later from anywhere.
///
/// `#[audited]` captures one (with [`current`]) when a call starts and records through it
/// when the call ends, even from a `Drop` during a panic or a cancellation, long after the
/// caller's scope is gone.
#[doc(hidden)]
#[derive(Clone, Default)]
pub struct Dispatch {
    target: Target,
}

#[derive(Clone, Default)]
enum Target {
    #[default]
    None,
    Auditor(Auditor),
    Capture(Arc<CaptureState>),
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.target {
            Target::None => "none",
            Target::Auditor(_) => "auditor",
            Target::Capture(_) => "capture",
        };
        f.debug_struct("Dispatch").field("target", &target).finish()
    }
}

impl Dispatch {
    /// A dispatch that sends events to `auditor`.
    pub fn to_auditor(auditor: Auditor) -> Self {
        Self {
            target: Target::Auditor(auditor),
        }
    }

    pub(crate) fn to_capture(state: Arc<CaptureState>) -> Self {
        Self {
            target: Target::Capture(state),
        }
    }

    /// Whether events recorded through this dispatch go anywhere.
    pub fn is_active(&self) -> bool {
        !matches!(self.target, Target::None)
    }

    /// Records `event` with the context current on the calling task or thread.
    pub fn record(&self, event: AuditEvent) {
        self.record_with_context(event, AuditContext::current());
    }

    /// Records `event` with an explicitly captured context (`None`: no context).
    pub fn record_with_context(&self, event: AuditEvent, ctx: Option<Arc<AuditContext>>) {
        self.submit(Recorded::new(event, ctx));
    }

    /// Records an event with the facts whose metadata entries are added off the caller's
    /// path (what `#[audited]` records).
    pub(crate) fn submit(&self, recorded: Recorded) {
        match &self.target {
            Target::Auditor(auditor) => auditor.submit(recorded),
            Target::Capture(state) => state.record(recorded),
            Target::None => unrouted(),
        }
    }
}

fn unrouted() {
    UNROUTED.fetch_add(1, Ordering::Relaxed);
    if !WARNED_UNROUTED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "an audit event was recorded but no auditor is installed (audit_core::set_global); \
             it was discarded, and later ones will be counted without a warning"
        );
    }
}

/// How many events were recorded while no auditor was installed (and so went nowhere).
pub fn unrouted_count() -> u64 {
    UNROUTED.load(Ordering::Relaxed)
}

/// The dispatch current now: the innermost scoped auditor, else the global one, else none.
#[doc(hidden)]
pub fn current() -> Dispatch {
    if let Some(scoped) = scoped() {
        return scoped;
    }
    match &*GLOBAL.read().unwrap_or_else(PoisonError::into_inner) {
        Some(auditor) => Dispatch::to_auditor(auditor.clone()),
        None => Dispatch::default(),
    }
}

/// The innermost scoped dispatch, if any (the global one is not consulted).
pub(crate) fn scoped() -> Option<Dispatch> {
    SCOPED.try_with(Clone::clone).ok().flatten()
}

/// Runs `future` with `dispatch` as the scoped target (`None`: fall back to the global one).
pub(crate) fn scope_option<F: Future>(
    dispatch: Option<Dispatch>,
    future: F,
) -> impl Future<Output = F::Output> {
    SCOPED.scope(dispatch, future)
}

/// Runs `f` with `dispatch` as the scoped target on this thread.
pub(crate) fn sync_scope_option<R>(dispatch: Option<Dispatch>, f: impl FnOnce() -> R) -> R {
    SCOPED.sync_scope(dispatch, f)
}

/// Records `event` through the current auditor (scoped override, else the global one),
/// picking up the current [`AuditContext`].
///
/// Never fails and never panics: problems (an invalid event, a full queue, a failing sink)
/// are reported by the pipeline itself. It waits only where
/// [`Auditor::record`] does: for room in a full queue under the default
/// [`OverflowPolicy::Block`](crate::pipeline::OverflowPolicy::Block), on a plain thread or
/// (inside `block_in_place`) in a tokio multi-thread runtime; a caller in a current-thread
/// runtime never waits (see [`Auditor::record`] for what happens there instead).
///
/// ```
/// use audit_core::{AuditEvent, testing};
///
/// let ((), captured) = testing::capture(|| {
///     audit_core::record(AuditEvent::builder("REPORT_EXPORTED").build());
/// });
/// assert_eq!(captured.single().action, "REPORT_EXPORTED");
/// ```
pub fn record(event: AuditEvent) {
    if let Some(scoped) = scoped() {
        return scoped.record(event);
    }
    // Cloned out of the lock: under `OverflowPolicy::Block` recording may wait for room, and
    // a reader waiting there would hold off `set_global` and, behind that writer, the
    // worker itself whenever it records (an error hook, an observer).
    match global() {
        Some(auditor) => auditor.record(event),
        None => unrouted(),
    }
}

/// Installs the process-wide default auditor, replacing any previous one.
///
/// A replaced auditor keeps running for whoever still holds it; shut it down with
/// [`Auditor::shutdown`] if nobody does.
pub fn set_global(auditor: Auditor) {
    *GLOBAL.write().unwrap_or_else(PoisonError::into_inner) = Some(auditor);
}

/// The process-wide default auditor, if one is installed.
pub fn global() -> Option<Auditor> {
    GLOBAL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

impl Auditor {
    /// Runs `future` with this auditor as the target of [`record`], instead of
    /// the global one. Spawned work inherits it through [`context::spawn`](crate::context::spawn)
    /// and friends.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        scope_option(Some(Dispatch::to_auditor(self.clone())), future)
    }

    /// Runs `f` with this auditor as the target of [`record`] on this thread.
    pub fn sync_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        sync_scope_option(Some(Dispatch::to_auditor(self.clone())), f)
    }
}

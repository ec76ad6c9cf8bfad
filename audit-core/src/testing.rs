//! Capturing the events recorded inside a closure or a future, to assert on them in tests.
//!
//! [`capture`] and [`capture_async`] install a *scoped* target for
//! [`record`](crate::record()) (and for `#[audited]` functions): they touch no global state,
//! so tests running in parallel on `cargo test`'s threads each see only their own events.
//! Events go through the same preparation as in the `Auditor` (crate `audit-pipeline`): the current
//! [`AuditContext`](crate::AuditContext) is merged in (explicit fields win), metadata and failure reasons are
//! redacted, and invalid events are reported separately ([`Captured::invalid`]). Everything
//! is available as soon as the closure returns: nothing is queued. There is no pipeline, so
//! observers (alert rules) do not run: test an
//! `AlertEngine` (crate `audit-alert`) by calling its `observe` directly.
//!
//! ```
//! use audit_core::{Actor, AuditContext, AuditEvent, testing};
//!
//! let (result, captured) = testing::capture(|| {
//!     AuditContext::new().actor(Actor::user("alice")).sync_scope(|| {
//!         audit_core::record(
//!             AuditEvent::builder("FTMS_BOOKING_CREATED")
//!                 .metadata_entry("card_number", "4111 1111 1111 1111")
//!                 .build(),
//!         );
//!         42
//!     })
//! });
//! assert_eq!(result, 42);
//! let event = captured.single();
//! assert_eq!(event.actor, Some(Actor::user("alice")));
//! assert_eq!(event.metadata["card_number"], "[REDACTED]");
//! ```
//!
//! Work spawned with [`context::spawn`](crate::context::spawn),
//! [`context::spawn_blocking`](crate::context::spawn_blocking) or bound with
//! [`context::bind`](crate::context::bind) is captured too.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::dispatch;
use crate::event::AuditEvent;
use crate::prepare::prepare;
use crate::recorder::{Recorded, Recorder};
use crate::redact::Redactor;
use crate::validate::ValidationError;

/// Runs `f`, capturing every event recorded inside it (on this thread, and in work carried
/// over with [`context::bind`](crate::context::bind) and friends).
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    Capture::new().run(f)
}

/// Runs `future`, capturing every event recorded inside it, across `.await`s and in tasks
/// spawned with [`context::spawn`](crate::context::spawn).
///
/// ```
/// use audit_core::{AuditEvent, testing};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let ((), captured) = testing::capture_async(async {
///     tokio::task::yield_now().await;
///     audit_core::record(AuditEvent::builder("A").build());
///     audit_core::record(AuditEvent::builder("B").build());
/// })
/// .await;
/// assert_eq!(captured.actions(), ["A", "B"]);
/// # });
/// ```
pub async fn capture_async<F: Future>(future: F) -> (F::Output, Captured) {
    Capture::new().run_async(future).await
}

/// Capture settings, for a redactor other than the default.
///
/// ```
/// use audit_core::{AuditEvent, redact::Redactor, testing::Capture};
///
/// let ((), captured) = Capture::new().redactor(Redactor::none()).run(|| {
///     audit_core::record(AuditEvent::builder("A").metadata_entry("password", "p").build());
/// });
/// assert_eq!(captured.single().metadata["password"], "p");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Capture {
    redactor: Redactor,
}

impl Capture {
    /// Default settings: the default [`Redactor`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses this redactor (as the auditor under test would).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Like [`capture`].
    pub fn run<R>(self, f: impl FnOnce() -> R) -> (R, Captured) {
        let state = Arc::new(CaptureState::new(self.redactor));
        let recorder: Arc<dyn Recorder> = state.clone();
        let result = dispatch::sync_with_recorder(recorder, f);
        (result, state.take())
    }

    /// Like [`capture_async`].
    pub async fn run_async<F: Future>(self, future: F) -> (F::Output, Captured) {
        let state = Arc::new(CaptureState::new(self.redactor));
        let recorder: Arc<dyn Recorder> = state.clone();
        let result = dispatch::with_recorder(recorder, future).await;
        (result, state.take())
    }
}

/// The in-memory recorder behind a capture.
struct CaptureState {
    redactor: Redactor,
    captured: Mutex<Captured>,
}

impl CaptureState {
    fn new(redactor: Redactor) -> Self {
        Self {
            redactor,
            captured: Mutex::new(Captured::default()),
        }
    }

    fn take(&self) -> Captured {
        std::mem::take(&mut *self.captured.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Recorder for CaptureState {
    fn record(&self, recorded: Recorded) {
        let (event, ctx) = recorded.into_settled();
        let prepared = prepare(event, ctx.as_ref(), &self.redactor);
        let mut captured = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        match prepared {
            Ok(event) => captured.events.push(event),
            Err(invalid) => captured.invalid.push(InvalidEvent {
                event: invalid.original,
                error: invalid.error,
                stand_in: invalid.stand_in,
            }),
        }
    }
}

/// An event that failed validation during a capture.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InvalidEvent {
    /// The event as recorded (after context merge and redaction).
    pub event: AuditEvent,
    /// Why it is invalid.
    pub error: ValidationError,
    /// The `AUDIT_EVENT_INVALID` event an auditor would write in its place.
    pub stand_in: AuditEvent,
}

/// The events recorded during a [`capture`], in recording order.
///
/// The assertion helpers panic with a readable message, like `assert!`: they are for tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Captured {
    events: Vec<AuditEvent>,
    invalid: Vec<InvalidEvent>,
}

impl Captured {
    /// The valid events, as a sink would receive them.
    pub fn events(&self) -> &[AuditEvent] {
        &self.events
    }

    /// Takes the valid events.
    pub fn into_events(self) -> Vec<AuditEvent> {
        self.events
    }

    /// How many valid events were captured.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no valid event was captured.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The action codes of the valid events, in order.
    pub fn actions(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.action.as_ref()).collect()
    }

    /// The valid events with this action code.
    pub fn by_action(&self, code: &str) -> Vec<&AuditEvent> {
        self.events.iter().filter(|e| e.action == code).collect()
    }

    /// The events that failed validation (not included in [`events`](Self::events)).
    pub fn invalid(&self) -> &[InvalidEvent] {
        &self.invalid
    }

    /// The only valid event.
    ///
    /// # Panics
    ///
    /// If there is not exactly one valid event (the message lists what was captured).
    #[track_caller]
    pub fn single(&self) -> &AuditEvent {
        match self.events.as_slice() {
            [event] => event,
            other => panic!(
                "expected exactly one audit event, captured {}: {:?} (invalid: {})",
                other.len(),
                self.actions(),
                self.invalid.len()
            ),
        }
    }

    /// The only valid event with this action code.
    ///
    /// # Panics
    ///
    /// If there is not exactly one.
    #[track_caller]
    pub fn single_by_action(&self, code: &str) -> &AuditEvent {
        match self.by_action(code).as_slice() {
            [event] => event,
            other => panic!(
                "expected exactly one {code} event, captured {} among {:?}",
                other.len(),
                self.actions()
            ),
        }
    }

    /// Asserts that no event failed validation.
    ///
    /// # Panics
    ///
    /// If one did (the message names the errors).
    #[track_caller]
    pub fn assert_all_valid(&self) {
        if !self.invalid.is_empty() {
            let errors: Vec<String> = self.invalid.iter().map(|i| i.error.to_string()).collect();
            panic!("{} invalid audit event(s): {errors:?}", errors.len());
        }
    }
}

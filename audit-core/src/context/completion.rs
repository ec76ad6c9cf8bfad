//! Completing the current context from inside the unit of work, the way
//! `tracing::Span::record` fills a field after the span was entered, and the [`Snapshot`] of a
//! context that a recorded event carries.
//!
//! Each completable field (actor, session id, tenant) is set **once** per unit of work: the
//! actor of a request is established once, and nothing recorded later can be attributed to
//! someone else by a second call. A field is stored in a write-once cell shared by every
//! scope of the unit of work, so reading what has been completed costs a few atomic loads
//! and no allocation: cheap enough for the recording path.

use std::sync::{Arc, OnceLock};

use crate::context::fields::AuditContext;
use crate::event::{Actor, AuditEvent};

/// The fields completed from inside a unit of work, each written at most once.
#[derive(Debug, Default)]
pub(crate) struct Late {
    actor: OnceLock<Actor>,
    session_id: OnceLock<String>,
    tenant: OnceLock<String>,
}

impl Late {
    pub(crate) fn actor(&self) -> Option<&Actor> {
        self.actor.get()
    }

    pub(crate) fn session_id(&self) -> Option<&String> {
        self.session_id.get()
    }

    pub(crate) fn tenant(&self) -> Option<&String> {
        self.tenant.get()
    }

    /// Which fields are completed now. A completed field never changes again, so these bits
    /// are all a [`Snapshot`] needs to read the values later, on another thread.
    fn completed(&self) -> Completed {
        let mut bits = 0;
        if self.actor.get().is_some() {
            bits |= Completed::ACTOR;
        }
        if self.session_id.get().is_some() {
            bits |= Completed::SESSION_ID;
        }
        if self.tenant.get().is_some() {
            bits |= Completed::TENANT;
        }
        Completed(bits)
    }
}

/// A set of completed fields, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Completed(u8);

impl Completed {
    pub(crate) const ACTOR: u8 = 1;
    pub(crate) const SESSION_ID: u8 = 2;
    pub(crate) const TENANT: u8 = 4;
    pub(crate) const ALL: Completed = Completed(Self::ACTOR | Self::SESSION_ID | Self::TENANT);

    pub(crate) fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Fields to complete the current context with: see [`complete`].
///
/// ```
/// use audit_core::context::Completion;
/// use audit_core::Actor;
///
/// let completion = Completion::new().actor(Actor::user("u-42")).session_id("s-9");
/// # let _ = completion;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "a completion does nothing until passed to `context::complete`"]
pub struct Completion {
    actor: Option<Actor>,
    session_id: Option<String>,
    tenant: Option<String>,
}

impl Completion {
    /// Nothing to complete yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Completes the actor (who the request turned out to be, once authenticated).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Completes the session id.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Completes the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

/// Why [`complete`] did not complete every field it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompleteError {
    /// No context is current: the call is not inside any scope (an HTTP layer, a job runner
    /// or [`AuditContext::scope`] sets one). Nothing was completed.
    #[error(
        "no audit context is current, so there is nothing to complete (is the request served \
         inside the audit layer or middleware?)"
    )]
    NoContext,
    /// These fields already had another value, set by the scope or by an earlier completion;
    /// they keep it. The other fields were completed.
    #[error("already set in the current audit context, and left unchanged: {}", fields.join(", "))]
    AlreadySet {
        /// The names of the refused fields (`actor`, `session_id`, `tenant`).
        fields: Vec<&'static str>,
    },
}

/// Completes the current context: sets the actor, session id or tenant of the unit of work
/// (the HTTP request) from inside it, once it is known, for every event recorded from now
/// on in any scope of that unit of work.
///
/// Use it where authentication happens inside the request (the app's own extractor, a
/// login handler, a middleware behind the audit layer), instead of verifying the credentials
/// a second time at the edge:
///
/// ```
/// use audit_core::context::{self, Completion};
/// use audit_core::{Actor, AuditContext, AuditEvent, testing};
///
/// let ((), captured) = testing::capture(|| {
///     // The edge knows the request, not yet who sent it.
///     AuditContext::new().request_id("r-1").sync_scope(|| {
///         audit_core::record(AuditEvent::builder("REQUEST_RECEIVED").build());
///         // The app's auth extractor verified the token:
///         context::complete(Completion::new().actor(Actor::user("u-42")).session_id("s-9"))
///             .expect("inside a scope");
///         audit_core::record(AuditEvent::builder("ARTICLE_CREATED").build());
///     })
/// });
/// let [before, after] = captured.events() else { panic!() };
/// assert_eq!(before.actor, None); // recorded before the actor was known
/// assert_eq!(after.actor, Some(Actor::user("u-42")));
/// assert_eq!(after.session_id.as_deref(), Some("s-9"));
/// ```
///
/// # What is seen when
///
/// - An event carries the completions made **before it was recorded**: before the
///   [`record`](crate::record()) call, or, for an `#[audited]` function, before the call
///   **ended** (the event is recorded then, so a handler that authenticates in its body is
///   recorded with its actor). An event recorded earlier never gets a later completion,
///   even if the pipeline's worker processes it afterwards.
/// - Completions belong to the unit of work: they are seen from every scope of it, nested
///   ones made with [`AuditContext::inherited`], tasks carried with
///   [`context::spawn`](crate::context::spawn) or [`bind`](crate::context::bind), and the
///   scope that entered the context (an HTTP layer recording a 401/403 after the handler
///   returned sees the actor the handler completed). A context made with
///   [`AuditContext::new`] inside is a new unit of work.
/// - A field set by the scope itself (a nested scope's explicit actor) wins over a completion
///   for events recorded in that scope, and an event's own field wins over both.
/// - Each field is completed once. Completing it again with the same value is a no-op;
///   with another value it is refused ([`CompleteError::AlreadySet`]) and keeps the first.
///   The fields given that were free are completed either way.
pub fn complete(completion: Completion) -> Result<(), CompleteError> {
    match AuditContext::current() {
        Some(ctx) => ctx.complete(completion),
        None => Err(CompleteError::NoContext),
    }
}

impl AuditContext {
    /// Completes this context (and its unit of work): [`context::complete`](complete) for a
    /// context held rather than current.
    pub fn complete(&self, completion: Completion) -> Result<(), CompleteError> {
        let late = self.late();
        let mut refused = Vec::new();
        if let Some(actor) = completion.actor {
            once(&self.actor, &late.actor, actor, "actor", &mut refused);
        }
        if let Some(session) = completion.session_id {
            once(
                &self.session_id,
                &late.session_id,
                session,
                "session_id",
                &mut refused,
            );
        }
        if let Some(tenant) = completion.tenant {
            once(&self.tenant, &late.tenant, tenant, "tenant", &mut refused);
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(CompleteError::AlreadySet { fields: refused })
        }
    }
}

/// Sets `cell` to `value` unless the scope or an earlier completion holds another value.
fn once<T: PartialEq>(
    own: &Option<T>,
    cell: &OnceLock<T>,
    value: T,
    name: &'static str,
    refused: &mut Vec<&'static str>,
) {
    let taken = match own {
        Some(own) => own != &value,
        None => match cell.set(value) {
            Ok(()) => false,
            Err(value) => cell.get() != Some(&value),
        },
    };
    if taken {
        refused.push(name);
    }
}

/// The context an event was recorded under, as it stood at that moment: the fields of its
/// scope, and the completions made before the event was recorded (see [`complete`]).
///
/// [`Recorded`](crate::recorder::Recorded) carries one; a recorder fills the event from it
/// with [`apply_to`](Self::apply_to), on whichever thread and however much later, and gets
/// the same fields.
#[derive(Clone)]
pub struct Snapshot {
    context: Arc<AuditContext>,
    completed: Completed,
}

impl Snapshot {
    /// The context as it stands now.
    pub fn of(context: Arc<AuditContext>) -> Self {
        let completed = context
            .late
            .get()
            .map_or(Completed::default(), |late| late.completed());
        Self { context, completed }
    }

    /// Fills the event's empty fields from the snapshot. Fields the event already has win.
    pub fn apply_to(&self, event: &mut AuditEvent) {
        self.context.apply_completed(event, self.completed);
    }

    /// The snapshot as a detached context (for a recorder that keeps contexts).
    pub fn to_context(&self) -> AuditContext {
        self.context.view(self.completed).to_owned_context()
    }

    /// The context the snapshot was taken of (its later completions included).
    pub fn context(&self) -> &Arc<AuditContext> {
        &self.context
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Snapshot")
            .field(&self.context.view(self.completed))
            .finish()
    }
}

//! The [`AuditContext`] itself: its fields, setters and how it fills an event.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::context::completion::{Completed, Late};
use crate::event::{Actor, AuditEvent};

/// Who is acting, from where, in which request, for which tenant.
///
/// Build it with [`AuditContext::new`] and the setters, then make it current with
/// [`scope`](Self::scope) or [`sync_scope`](Self::sync_scope). See the [module
/// docs](crate::context).
///
/// The public fields are what the scope was entered with. The actor, session id and tenant
/// can also be *completed* later from inside the unit of work ([`complete`](Self::complete),
/// [`context::complete`](crate::context::complete)); those completions are shared by every
/// scope of the unit of work and are not in the public fields: read them with
/// [`snapshot`](Self::snapshot) (or `clone`, which is the same), which returns a detached copy
/// with everything completed so far filled in.
///
/// It is serializable (with its completed fields), so a job queue that persists its jobs can
/// persist the context of the request that enqueued them, and re-enter it with
/// [`sync_scope`](Self::sync_scope) or [`scope`](Self::scope) when the job runs.
#[derive(Default, Deserialize)]
#[non_exhaustive]
// `late` first, in the cache line of the `Arc`'s counts that every recording call touches
// anyway: checking it for completions then costs no extra memory access on the caller's path.
#[repr(C)]
pub struct AuditContext {
    /// The fields completed from inside the unit of work; created on first use and shared
    /// with the scopes [`inherited`](Self::inherited) from this one.
    #[serde(skip)]
    pub(crate) late: OnceLock<Arc<Late>>,
    /// The principal performing the work.
    #[serde(default)]
    pub actor: Option<Actor>,
    /// The client's IP address.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// The client's user agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The request id (correlates events with logs and traces).
    #[serde(default)]
    pub request_id: Option<String>,
    /// The session id.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The tenant, for multi-tenant services.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl AuditContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets the client IP.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Sets the user agent.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sets the request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the session id.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Fills the event's empty fields from this context, with every completion made so far.
    /// Fields the event already has win.
    ///
    /// Recorders fill events from the [`Snapshot`](crate::context::Snapshot) taken when the
    /// event was recorded instead, so that a completion made later does not reach it.
    pub fn apply_to(&self, event: &mut AuditEvent) {
        self.apply_completed(event, Completed::ALL);
    }

    /// Fills `event` from the scope's fields, then from the completions in `completed`.
    pub(crate) fn apply_completed(&self, event: &mut AuditEvent, completed: Completed) {
        let view = self.view(completed);
        fill(&mut event.actor, view.actor);
        fill(&mut event.ip, view.ip.as_ref());
        fill_str(&mut event.user_agent, view.user_agent);
        fill_str(&mut event.request_id, view.request_id);
        fill_str(&mut event.session_id, view.session_id);
        fill_str(&mut event.tenant, view.tenant);
    }

    /// A detached copy with every field completed so far filled in: what an event recorded
    /// now would carry. It shares nothing with this context: completions made through it
    /// later stay its own.
    pub fn snapshot(&self) -> AuditContext {
        self.view(Completed::ALL).to_owned_context()
    }

    /// The scope's own fields, completed by the completions in `completed`.
    pub(crate) fn view(&self, completed: Completed) -> View<'_> {
        let late = self.late.get().map(|late| &**late);
        let completed_field = |pick: fn(&Late) -> Option<&String>, bit| {
            late.filter(|_| completed.has(bit))
                .and_then(pick)
                .map(String::as_str)
        };
        View {
            actor: self.actor.as_ref().or_else(|| {
                late.filter(|_| completed.has(Completed::ACTOR))
                    .and_then(Late::actor)
            }),
            ip: self.ip,
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            session_id: self
                .session_id
                .as_deref()
                .or_else(|| completed_field(Late::session_id, Completed::SESSION_ID)),
            tenant: self
                .tenant
                .as_deref()
                .or_else(|| completed_field(Late::tenant, Completed::TENANT)),
        }
    }

    /// The completion cell, created on first use.
    pub(crate) fn late(&self) -> &Arc<Late> {
        self.late.get_or_init(Arc::default)
    }

    /// A copy of the scope's own fields that shares this context's completion cell: a nested
    /// scope of the same unit of work.
    pub(crate) fn nested(&self) -> AuditContext {
        let late = OnceLock::new();
        let _ = late.set(Arc::clone(self.late()));
        AuditContext {
            actor: self.actor.clone(),
            ip: self.ip,
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
            session_id: self.session_id.clone(),
            tenant: self.tenant.clone(),
            late,
        }
    }
}

/// The fields of a context as an event would see them (see [`AuditContext::view`]).
#[derive(Debug, PartialEq, Eq, Serialize)]
pub(crate) struct View<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<&'a str>,
}

impl View<'_> {
    pub(crate) fn to_owned_context(&self) -> AuditContext {
        AuditContext {
            actor: self.actor.cloned(),
            ip: self.ip,
            user_agent: self.user_agent.map(str::to_owned),
            request_id: self.request_id.map(str::to_owned),
            session_id: self.session_id.map(str::to_owned),
            tenant: self.tenant.map(str::to_owned),
            late: OnceLock::new(),
        }
    }
}

/// A clone is a [`snapshot`](AuditContext::snapshot): a detached copy with the completions
/// made so far filled in. (Use [`AuditContext::inherited`] for a nested scope of the same
/// unit of work, which shares later completions too.)
impl Clone for AuditContext {
    fn clone(&self) -> Self {
        self.snapshot()
    }
}

/// Compares what events would carry: scope fields and completions alike.
impl PartialEq for AuditContext {
    fn eq(&self, other: &Self) -> bool {
        self.view(Completed::ALL) == other.view(Completed::ALL)
    }
}

impl Eq for AuditContext {}

impl std::fmt::Debug for AuditContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let view = self.view(Completed::ALL);
        f.debug_struct("AuditContext")
            .field("actor", &view.actor)
            .field("ip", &view.ip)
            .field("user_agent", &view.user_agent)
            .field("request_id", &view.request_id)
            .field("session_id", &view.session_id)
            .field("tenant", &view.tenant)
            .finish()
    }
}

/// Serializes what events would carry, completions included.
impl Serialize for AuditContext {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view(Completed::ALL).serialize(serializer)
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, from: Option<&T>) {
    if slot.is_none()
        && let Some(value) = from
    {
        *slot = Some(value.clone());
    }
}

fn fill_str(slot: &mut Option<String>, from: Option<&str>) {
    if slot.is_none()
        && let Some(value) = from
    {
        *slot = Some(value.to_owned());
    }
}

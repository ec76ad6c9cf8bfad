//! The [`AuditContext`] itself: its fields, setters and how it fills an event.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::event::{Actor, AuditEvent};

/// Who is acting, from where, in which request, for which tenant.
///
/// Build it with [`AuditContext::new`] and the setters, then make it current with
/// [`scope`](Self::scope) or [`sync_scope`](Self::sync_scope). See the [module
/// docs](crate::context).
///
/// It is serializable, so a job queue that persists its jobs can persist the context of the
/// request that enqueued them, and re-enter it with [`sync_scope`](Self::sync_scope) or
/// [`scope`](Self::scope) when the job runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditContext {
    /// The principal performing the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The request id (correlates events with logs and traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The tenant, for multi-tenant services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

    /// Fills the event's empty fields from this context. Fields the event already has win.
    pub fn apply_to(&self, event: &mut AuditEvent) {
        fill(&mut event.actor, &self.actor);
        fill(&mut event.ip, &self.ip);
        fill(&mut event.user_agent, &self.user_agent);
        fill(&mut event.request_id, &self.request_id);
        fill(&mut event.session_id, &self.session_id);
        fill(&mut event.tenant, &self.tenant);
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(from);
    }
}

//! The authenticated principal of a request: its actor, roles and permissions.

use std::collections::BTreeSet;

use audit_core::context::Completion;
use audit_core::{Actor, AuditContext};

/// Who is making a request, as the application's authentication established it.
///
/// The framework integrations (`audit-axum`, `audit-actix`) get one from the app's actor
/// resolver (or from a request extension an outer auth middleware inserted), put its actor,
/// session and tenant into the request's [`AuditContext`], and leave it in the request
/// extensions for their permission guards, [`authorize`](crate::authorize) and handlers.
///
/// ```
/// use audit_core::Actor;
/// use audit_http::Principal;
///
/// let bob = Principal::new(Actor::user("bob"))
///     .roles(["agent"])
///     .permissions(["booking:create", "booking:read"]);
/// assert!(bob.has_permission("booking:create"));
/// assert!(!bob.has_permission("audit:read"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The actor recorded in events.
    pub actor: Actor,
    /// The roles held (recorded with denials).
    pub roles: Vec<String>,
    /// The permissions the roles grant.
    pub permissions: BTreeSet<String>,
    /// The session, if the app has sessions.
    pub session_id: Option<String>,
    /// The tenant, for multi-tenant apps.
    pub tenant: Option<String>,
}

impl Principal {
    /// A principal with no roles or permissions.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            roles: Vec::new(),
            permissions: BTreeSet::new(),
            session_id: None,
            tenant: None,
        }
    }

    /// Sets the roles held.
    pub fn roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the permissions granted.
    pub fn permissions<I, P>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
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

    /// Whether the principal holds `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// This principal's actor, session and tenant as a [`Completion`] of the current request's
    /// context, for an app that authenticates inside the request:
    /// `audit_core::context::complete(principal.completion())`.
    pub fn completion(&self) -> Completion {
        let mut completion = Completion::new().actor(self.actor.clone());
        if let Some(session) = &self.session_id {
            completion = completion.session_id(session.clone());
        }
        if let Some(tenant) = &self.tenant {
            completion = completion.tenant(tenant.clone());
        }
        completion
    }

    /// Adds this principal's actor, session and tenant to `ctx`.
    pub fn apply_to(&self, mut ctx: AuditContext) -> AuditContext {
        ctx = ctx.actor(self.actor.clone());
        if let Some(session) = &self.session_id {
            ctx = ctx.session_id(session.clone());
        }
        if let Some(tenant) = &self.tenant {
            ctx = ctx.tenant(tenant.clone());
        }
        ctx
    }
}

//! Who may see the log: the host's [`Access`] decision, the dashboard's permission check,
//! and the audit record of every refusal.
//!
//! The host knows its users; the dashboard knows what each page needs. [`Access::authorize`]
//! turns a request into a [`Viewer`] (an actor with [`Permission`]s) or a [`Denial`]; the
//! route guard then checks the page's permission and, on any refusal, records the denial
//! exactly as audit-axum's RBAC guard does (`authz_fail` with the permission code and the
//! roles held, or `authn_request_unauthenticated`) before answering 403 or 401.

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use audit_axum::Principal;
use audit_core::auth::{self, AuthzDenial};
use audit_core::validate::truncate;
use audit_core::{Actor, AuditContext, AuditEvent, Category, Severity};
use http::request::Parts;
use serde_json::json;

/// What a viewer may do with the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Permission {
    /// See every page: overview, events, timelines, live view, verification results.
    Read,
    /// Download the current filter as CSV or JSON Lines.
    Export,
    /// Start a verification of the chain.
    Verify,
}

impl Permission {
    /// Every permission, for a viewer who may do everything.
    pub const ALL: [Permission; 3] = [Self::Read, Self::Export, Self::Verify];

    /// The permission code (`audit:read`, `audit:export`, `audit:verify`), as recorded in
    /// denials and as [`PrincipalAccess`] looks it up.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Read => "audit:read",
            Self::Export => "audit:export",
            Self::Verify => "audit:verify",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The person (or service) looking at the dashboard, with what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Viewer {
    /// Recorded as the actor of every view, export and verification.
    pub actor: Actor,
    /// The roles held (recorded with denials).
    pub roles: Vec<String>,
    /// What the viewer may do.
    pub permissions: BTreeSet<Permission>,
    /// The viewer's session; it binds the CSRF token of the verify form.
    pub session_id: Option<String>,
}

impl Viewer {
    /// A viewer with no permissions yet.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            roles: Vec::new(),
            permissions: BTreeSet::new(),
            session_id: None,
        }
    }

    /// Grants these permissions.
    pub fn grant(mut self, permissions: impl IntoIterator<Item = Permission>) -> Self {
        self.permissions.extend(permissions);
        self
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

    /// Sets the session id.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Whether the viewer holds `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Why the host refused a request outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// Nobody is signed in (answered 401, with a sign-in link when
    /// [`Access::login_url`] gives one).
    #[error("authentication required")]
    Unauthenticated,
    /// The host knows who it is and refuses them all the same (answered 403).
    #[error("access refused: {reason}")]
    Refused {
        /// Recorded as the denial's reason; never shown to the client.
        reason: String,
        /// Who was refused, when known (recorded as the actor).
        actor: Option<Actor>,
    },
}

/// The host's access decision: turn a request into a [`Viewer`] or a [`Denial`].
///
/// It runs before every dashboard page on the request's head. The dashboard then checks the
/// page's own [`Permission`] and records every refusal. Implement it over your sessions, or
/// use [`PrincipalAccess`] when audit-axum's layer already resolves a
/// [`Principal`](audit_axum::Principal).
#[async_trait]
pub trait Access: Send + Sync + 'static {
    /// Who is asking, and what they may do.
    async fn authorize(&self, request: &Parts) -> Result<Viewer, Denial>;

    /// Where an unauthenticated browser signs in (linked from the 401 page), if anywhere.
    fn login_url(&self) -> Option<&str> {
        None
    }

    /// Where a signed-in viewer signs out, if anywhere: every page's header then holds a
    /// "Sign out" button that `POST`s there (a sign-out changes state, so never a `GET`
    /// link; the host protects that endpoint like its other forms, e.g. with a
    /// `SameSite=Strict` session cookie).
    fn logout_url(&self) -> Option<&str> {
        None
    }
}

/// [`Access`] over audit-axum's [`Principal`]: the principal that
/// [`AuditLayer`](audit_axum::AuditLayer)'s resolver (or an outer middleware) put into the
/// request extensions, with the permissions `audit:read`, `audit:export` and
/// `audit:verify` mapped to [`Permission`]s.
///
/// ```
/// use audit_dashboard::PrincipalAccess;
///
/// let access = PrincipalAccess::new()
///     .login_url("/signin")
///     .logout_url("/signout");
/// # let _ = access;
/// ```
#[derive(Debug, Clone, Default)]
pub struct PrincipalAccess {
    login_url: Option<String>,
    logout_url: Option<String>,
}

impl PrincipalAccess {
    /// Reads the principal from the request extensions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Links the 401 page to this sign-in page.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = Some(url.into());
        self
    }

    /// Gives every page a "Sign out" button posting to this URL.
    pub fn logout_url(mut self, url: impl Into<String>) -> Self {
        self.logout_url = Some(url.into());
        self
    }

    /// The viewer a principal is: its actor, roles, session and the `audit:*` permissions
    /// it holds.
    pub fn viewer(principal: &Principal) -> Viewer {
        let granted = Permission::ALL
            .into_iter()
            .filter(|p| principal.has_permission(p.code()));
        let mut viewer = Viewer::new(principal.actor.clone())
            .roles(principal.roles.iter().cloned())
            .grant(granted);
        viewer.session_id.clone_from(&principal.session_id);
        viewer
    }
}

#[async_trait]
impl Access for PrincipalAccess {
    async fn authorize(&self, request: &Parts) -> Result<Viewer, Denial> {
        request
            .extensions
            .get::<Principal>()
            .map(Self::viewer)
            .ok_or(Denial::Unauthenticated)
    }

    fn login_url(&self) -> Option<&str> {
        self.login_url.as_deref()
    }

    fn logout_url(&self) -> Option<&str> {
        self.logout_url.as_deref()
    }
}

/// The outcome of checking one request against one page's permission.
pub(crate) enum Decision {
    Allowed(Viewer),
    Unauthenticated,
    Forbidden,
}

/// Checks `decision` against `needed`, recording any refusal as an RBAC denial.
pub(crate) fn decide(
    decision: Result<Viewer, Denial>,
    needed: Permission,
    method: &str,
    path: &str,
) -> Decision {
    let (event, outcome) = match decision {
        Ok(viewer) if viewer.may(needed) => return Decision::Allowed(viewer),
        Ok(viewer) => (
            AuthzDenial::new(needed.code())
                .actor(viewer.actor)
                .roles(viewer.roles)
                .missing_role_assignment(true)
                .into_event(),
            Decision::Forbidden,
        ),
        Err(Denial::Refused { reason, actor }) => {
            let mut denial = AuthzDenial::new(needed.code()).reason(reason);
            if let Some(actor) = actor {
                denial = denial.actor(actor);
            }
            (denial.into_event(), Decision::Forbidden)
        }
        Err(Denial::Unauthenticated) => (
            AuditEvent::builder(auth::codes::REQUEST_UNAUTHENTICATED)
                .category(Category::Authentication)
                .severity(Severity::Warning)
                .denied("authentication required")
                .description(format!("unauthenticated request needing {needed}"))
                .metadata(json!({ "permission": needed.code() }))
                .build(),
            Decision::Unauthenticated,
        ),
    };
    record_denial(event, method, path);
    outcome
}

fn record_denial(mut event: AuditEvent, method: &str, path: &str) {
    if let Some(map) = event.metadata.as_object_mut() {
        map.insert("method".into(), json!(capped(method)));
        map.insert("path".into(), json!(capped(path)));
    }
    // Marked as audited, so a host's AuditLayer does not add a second denial event.
    audit_axum::record(event);
}

fn capped(text: &str) -> String {
    let mut text = auth::sanitize_claimed_name(text);
    truncate(&mut text, MAX_LOGGED_PATH);
    text
}

/// Longest request path stored in a denial's metadata.
const MAX_LOGGED_PATH: usize = 512;

/// The context the dashboard's own events are recorded under: the request's (IP, request
/// id, user agent from the host's layer) with the viewer as the actor.
pub(crate) fn viewer_context(viewer: &Viewer) -> AuditContext {
    let mut ctx = AuditContext::inherited().actor(viewer.actor.clone());
    if let Some(session) = &viewer.session_id {
        ctx = ctx.session_id(session.clone());
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Outcome, testing};

    fn reader() -> Viewer {
        Viewer::new(Actor::user("rita"))
            .roles(["auditor"])
            .grant([Permission::Read])
    }

    #[test]
    fn a_viewer_with_the_permission_is_allowed_and_nothing_is_recorded() {
        let (decision, captured) =
            testing::capture(|| decide(Ok(reader()), Permission::Read, "GET", "/"));
        assert!(matches!(decision, Decision::Allowed(_)));
        assert!(captured.events().is_empty());
    }

    #[test]
    fn a_missing_permission_is_recorded_as_an_rbac_denial() {
        let (decision, captured) =
            testing::capture(|| decide(Ok(reader()), Permission::Export, "GET", "/export"));
        assert!(matches!(decision, Decision::Forbidden));
        let event = captured.single();
        assert_eq!(event.action, auth::codes::AUTHZ_FAIL);
        assert_eq!(event.outcome, Outcome::Denied);
        assert_eq!(event.metadata["permission"], "audit:export");
        assert_eq!(event.metadata["roles"][0], "auditor");
        assert_eq!(event.metadata["path"], "/export");
        assert_eq!(event.actor.as_ref().map(|a| a.id.as_str()), Some("rita"));
    }

    #[test]
    fn an_unauthenticated_request_is_recorded_with_the_permission_it_needed() {
        let (decision, captured) =
            testing::capture(|| decide(Err(Denial::Unauthenticated), Permission::Read, "GET", "/"));
        assert!(matches!(decision, Decision::Unauthenticated));
        let event = captured.single();
        assert_eq!(event.action, auth::codes::REQUEST_UNAUTHENTICATED);
        assert_eq!(event.metadata["permission"], "audit:read");
    }

    #[test]
    fn a_host_refusal_keeps_its_reason_and_actor() {
        let refused = Denial::Refused {
            reason: "outside office hours".into(),
            actor: Some(Actor::user("nina")),
        };
        let (_, captured) =
            testing::capture(|| decide(Err(refused), Permission::Read, "GET", "/events"));
        let event = captured.single();
        assert_eq!(event.reason.as_deref(), Some("outside office hours"));
        assert_eq!(event.actor.as_ref().map(|a| a.id.as_str()), Some("nina"));
    }

    #[test]
    fn principal_permissions_map_to_dashboard_permissions() {
        let principal = Principal::new(Actor::user("admin"))
            .permissions(["audit:read", "audit:verify", "booking:create"])
            .session_id("s-1");
        let viewer = PrincipalAccess::viewer(&principal);
        assert!(viewer.may(Permission::Read));
        assert!(viewer.may(Permission::Verify));
        assert!(!viewer.may(Permission::Export));
        assert_eq!(viewer.session_id.as_deref(), Some("s-1"));
    }
}

//! Ready-made authentication and authorization events.
//!
//! Every helper returns a complete [`AuditEvent`] with its category, outcome and severity
//! set and a stable action code from [`codes`]. The codes follow the
//! [OWASP Logging Vocabulary](https://cheatsheetseries.owasp.org/cheatsheets/Logging_Vocabulary_Cheat_Sheet.html)
//! where it has a name for the event (`authn_login_fail`, `authz_fail`…), so a SIEM rule
//! written against that vocabulary works unchanged.
//!
//! Fields the helpers leave empty (ip, user agent, request id, and the actor where noted)
//! are filled from the current [`AuditContext`](crate::AuditContext) when the event is
//! recorded. The events are plain values: change any public field before recording.
//!
//! # Login failures: precise in the log, identical to the client
//!
//! The log records *why* a login failed (unknown user, wrong password, locked, inactive);
//! the client must not learn it, or the login form becomes a user-name oracle.
//! [`LoginFailure::client_message`] returns the same text for every reason, so the handler
//! answers from the failure it just logged and cannot leak by accident:
//!
//! ```
//! use audit_core::auth::{self, LoginFailure};
//! use audit_core::{Category, Outcome};
//!
//! let why = LoginFailure::UnknownUser;
//! let event = auth::login_failed("mallory", why);
//! assert_eq!(event.action, "authn_login_fail");
//! assert_eq!(event.category, Category::Authentication);
//! assert_eq!(event.outcome, Outcome::Failure);
//! assert_eq!(event.metadata["failure"], "unknown_user");
//! // The client sees the same words whatever the reason.
//! assert_eq!(why.client_message(), LoginFailure::WrongPassword.client_message());
//! ```
//!
//! No helper takes a password, a token or any other secret: there is no parameter to put one
//! in. User names typed by a client are sanitised (control characters replaced, length
//! capped) so a hostile name can never make the failure event itself invalid and invisible.
//!
//! # Authorization denials
//!
//! ```
//! use audit_core::auth::AuthzDenial;
//! use audit_core::{Actor, Outcome};
//!
//! let event = AuthzDenial::new("booking:create")
//!     .actor(Actor::user("bob"))
//!     .roles(["viewer"])
//!     .missing_role_assignment(true)
//!     .into_event();
//! assert_eq!(event.action, "authz_fail");
//! assert_eq!(event.outcome, Outcome::Denied);
//! assert_eq!(event.metadata["permission"], "booking:create");
//! assert_eq!(event.metadata["roles"][0], "viewer");
//! assert_eq!(event.metadata["missing_role_assignment"], true);
//! ```

use serde_json::json;

use crate::event::{Actor, AuditEvent, Category, Severity, StaticText};
use crate::validate::{MAX_ID_LEN, MAX_TEXT_LEN, truncate};

/// The stable action codes used by this module (and by `audit-axum`'s layer).
pub mod codes {
    /// A user logged in (OWASP `authn_login_success`).
    pub const LOGIN_SUCCESS: &str = "authn_login_success";
    /// A login failed: unknown user or wrong credentials (OWASP `authn_login_fail`).
    pub const LOGIN_FAIL: &str = "authn_login_fail";
    /// A login was refused because the account is locked (OWASP `authn_login_lock`).
    pub const LOGIN_LOCK: &str = "authn_login_lock";
    /// A login was refused because the account is disabled or inactive.
    pub const LOGIN_INACTIVE: &str = "authn_login_inactive";
    /// A user logged out.
    pub const LOGOUT: &str = "authn_logout";
    /// A user changed a password (OWASP `authn_password_change`).
    pub const PASSWORD_CHANGE: &str = "authn_password_change";
    /// A password change was refused (OWASP `authn_password_change_fail`).
    pub const PASSWORD_CHANGE_FAIL: &str = "authn_password_change_fail";
    /// A token could not be refreshed (expired, revoked, malformed).
    pub const TOKEN_REFRESH_FAIL: &str = "authn_token_refresh_fail";
    /// A token that was already used or revoked was presented again (OWASP `authn_token_reuse`).
    pub const TOKEN_REUSE: &str = "authn_token_reuse";
    /// A request without valid credentials was refused (a 401, or a redirect to the login
    /// page).
    pub const REQUEST_UNAUTHENTICATED: &str = "authn_request_unauthenticated";
    /// An access-control check refused an action (OWASP `authz_fail`).
    pub const AUTHZ_FAIL: &str = "authz_fail";
}

/// Longest user name kept from a login attempt; longer input is cut (marked with `…`).
pub const MAX_CLAIMED_NAME_LEN: usize = 128;

/// Why a login failed. Recorded in the event, never shown to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginFailure {
    /// No account has the user name given.
    UnknownUser,
    /// The account exists; the password (or other credential) was wrong.
    WrongPassword,
    /// The account is locked (too many failures, an administrator's decision).
    Locked,
    /// The account exists but is disabled or not yet activated.
    Inactive,
    /// A second factor was required and was wrong or missing.
    SecondFactorFailed,
}

impl LoginFailure {
    /// The stable name stored in the event's `failure` metadata entry.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_user",
            Self::WrongPassword => "wrong_password",
            Self::Locked => "locked",
            Self::Inactive => "inactive",
            Self::SecondFactorFailed => "second_factor_failed",
        }
    }

    /// What to tell the client: the same text for every reason, so responses do not reveal
    /// whether an account exists or is locked.
    pub fn client_message(&self) -> &'static str {
        GENERIC_LOGIN_FAILURE
    }

    fn action(&self) -> &'static str {
        match self {
            Self::Locked => codes::LOGIN_LOCK,
            Self::Inactive => codes::LOGIN_INACTIVE,
            _ => codes::LOGIN_FAIL,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown user",
            Self::WrongPassword => "wrong password",
            Self::Locked => "account locked",
            Self::Inactive => "account inactive",
            Self::SecondFactorFailed => "second factor failed",
        }
    }
}

/// The answer to give a client for any failed login.
pub const GENERIC_LOGIN_FAILURE: &str = "invalid user name or password";

/// Makes client-typed text safe to store as an identifier: control characters become `�`
/// and the length is capped at [`MAX_CLAIMED_NAME_LEN`] bytes, so the event stays valid.
pub fn sanitize_claimed_name(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    truncate(&mut clean, MAX_CLAIMED_NAME_LEN.min(MAX_ID_LEN));
    clean
}

fn authn(action: &'static str, severity: Severity) -> crate::event::AuditEventBuilder {
    AuditEvent::builder(action)
        .category(Category::Authentication)
        .severity(severity)
}

/// `authn_login_success`: `user_id` logged in.
pub fn login_success(user_id: impl Into<String>) -> AuditEvent {
    let user_id = user_id.into();
    authn(codes::LOGIN_SUCCESS, Severity::Info)
        .actor(Actor::user(user_id.clone()))
        .description(format!("user {user_id} logged in"))
        .build()
}

/// A failed login for a user name that matches **no account**: the typed name is all there is.
///
/// [`LoginFailure::Locked`] gives `authn_login_lock`, [`LoginFailure::Inactive`] gives
/// `authn_login_inactive`, every other reason `authn_login_fail`. The reason goes into
/// `metadata.failure` and the event's reason text; the claimed name, sanitised with
/// [`sanitize_claimed_name`], goes into `metadata.claimed_user` and becomes the actor (kind
/// `anonymous` for an unknown user, `user` otherwise).
///
/// # Which one to use
///
/// - The name matched no account ([`LoginFailure::UnknownUser`]): `login_failed(typed, why)`.
/// - The account is known (a wrong password, a locked or inactive account, a failed second
///   factor): [`login_failed_for_account`]`(account_id, typed, why)`, so the failure is
///   recorded under the same actor id as [`login_success`]`(account_id)` and the account's
///   other activity, and "everything user X did" includes its failed logins.
///
/// ```
/// use audit_core::auth::{self, LoginFailure};
/// use audit_core::ActorKind;
///
/// let event = auth::login_failed("mallory", LoginFailure::UnknownUser);
/// assert_eq!(event.actor.as_ref().map(|a| a.kind), Some(ActorKind::Anonymous));
/// assert_eq!(event.metadata["claimed_user"], "mallory");
/// ```
pub fn login_failed(claimed_user: &str, why: LoginFailure) -> AuditEvent {
    let name = sanitize_claimed_name(claimed_user);
    let actor = match why {
        LoginFailure::UnknownUser => Actor::anonymous(name.clone()),
        _ => Actor::user(name.clone()),
    };
    login_failure(actor, Some(name), why)
}

/// A failed login to a **known account**: recorded under the account's id, with the name the
/// client typed kept in `metadata.claimed_user` (see [`login_failed`] for which to use when).
///
/// ```
/// use audit_core::auth::{self, LoginFailure};
/// use audit_core::Actor;
///
/// // The user typed "Alice@Example.com"; the app found account u-42, but the password is wrong.
/// let failed = auth::login_failed_for_account("u-42", "Alice@Example.com", LoginFailure::WrongPassword);
/// let succeeded = auth::login_success("u-42");
/// assert_eq!(failed.actor, Some(Actor::user("u-42")));
/// assert_eq!(failed.actor, succeeded.actor); // one account, one actor
/// assert_eq!(failed.metadata["claimed_user"], "Alice@Example.com");
/// assert_eq!(failed.metadata["failure"], "wrong_password");
/// ```
pub fn login_failed_for_account(
    account_id: impl Into<String>,
    claimed_user: &str,
    why: LoginFailure,
) -> AuditEvent {
    login_failure(
        Actor::user(account_id),
        Some(sanitize_claimed_name(claimed_user)),
        why,
    )
}

fn login_failure(actor: Actor, claimed: Option<String>, why: LoginFailure) -> AuditEvent {
    let who = claimed.as_deref().unwrap_or(actor.id.as_str());
    let description = format!("login failed for {who}: {}", why.reason());
    let mut builder = authn(why.action(), Severity::Warning)
        .failure(why.reason())
        .description(description)
        .metadata_entry("failure", why.as_str());
    if let Some(claimed) = claimed {
        builder = builder.metadata_entry("claimed_user", claimed);
    }
    builder.actor(actor).build()
}

/// `authn_login_lock`: a login to the account `user_id` was refused because it is locked.
pub fn login_locked(user_id: &str) -> AuditEvent {
    login_failure(
        Actor::user(sanitize_claimed_name(user_id)),
        None,
        LoginFailure::Locked,
    )
}

/// `authn_login_inactive`: a login to the account `user_id` was refused because it is
/// disabled.
pub fn login_inactive(user_id: &str) -> AuditEvent {
    login_failure(
        Actor::user(sanitize_claimed_name(user_id)),
        None,
        LoginFailure::Inactive,
    )
}

/// `authn_logout`: `user_id` logged out.
pub fn logout(user_id: impl Into<String>) -> AuditEvent {
    let user_id = user_id.into();
    authn(codes::LOGOUT, Severity::Info)
        .actor(Actor::user(user_id.clone()))
        .description(format!("user {user_id} logged out"))
        .build()
}

/// `authn_password_change`: `user_id` changed a password.
///
/// The actor is left to the context, so an administrator resetting someone else's password
/// is recorded as the administrator acting on `user_id` (the event's entity).
pub fn password_changed(user_id: impl Into<String>) -> AuditEvent {
    let user_id = user_id.into();
    authn(codes::PASSWORD_CHANGE, Severity::Notice)
        .entity("user", user_id.clone())
        .description(format!("password of user {user_id} changed"))
        .build()
}

/// `authn_password_change_fail`: a password change for `user_id` was refused.
///
/// `reason` must describe the rule that failed ("too short", "current password wrong"),
/// never the password itself.
pub fn password_change_failed(user_id: impl Into<String>, reason: impl Into<String>) -> AuditEvent {
    let user_id = user_id.into();
    authn(codes::PASSWORD_CHANGE_FAIL, Severity::Warning)
        .entity("user", user_id.clone())
        .failure(capped(reason.into()))
        .description(format!("password change of user {user_id} refused"))
        .build()
}

/// Why a token could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenFailure {
    /// The token's lifetime is over.
    Expired,
    /// The token was revoked.
    Revoked,
    /// The token could not be parsed or its signature is wrong.
    Invalid,
    /// The token was already used once (a rotated refresh token presented again).
    Reused,
}

impl TokenFailure {
    /// The stable name stored in the event's `failure` metadata entry.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Invalid => "invalid",
            Self::Reused => "reused",
        }
    }
}

/// A refresh token was refused. `subject` is the user the token claims, when it could be read.
///
/// [`TokenFailure::Reused`] gives `authn_token_reuse` with severity critical (a reused
/// refresh token usually means it was stolen); every other reason gives
/// `authn_token_refresh_fail` with severity warning.
pub fn token_refresh_failed(subject: Option<&str>, why: TokenFailure) -> AuditEvent {
    let (action, severity) = match why {
        TokenFailure::Reused => (codes::TOKEN_REUSE, Severity::Critical),
        _ => (codes::TOKEN_REFRESH_FAIL, Severity::Warning),
    };
    let mut builder = authn(action, severity)
        .failure(format!("token {}", why.as_str()))
        .metadata_entry("failure", why.as_str());
    if let Some(subject) = subject {
        builder = builder.actor(Actor::user(sanitize_claimed_name(subject)));
    }
    builder.build()
}

/// `authn_token_reuse`: a token already used or revoked was presented again.
pub fn token_reused(subject: Option<&str>) -> AuditEvent {
    token_refresh_failed(subject, TokenFailure::Reused)
}

/// `authn_request_unauthenticated`: a request was refused for want of authentication,
/// answered with `status`: a 401, or what the app sends instead (a server-rendered app
/// typically redirects to its login page with a 303).
///
/// `path` is the request path without its query string (which may carry secrets). The
/// status goes into `metadata.status` and the description.
///
/// ```
/// use audit_core::auth;
///
/// let event = auth::request_unauthenticated("GET", "/admin/dashboard", 303);
/// assert_eq!(event.metadata["status"], 303);
/// assert_eq!(event.description.as_deref(), Some("GET /admin/dashboard answered 303"));
/// ```
pub fn request_unauthenticated(method: &str, path: &str, status: u16) -> AuditEvent {
    authn(codes::REQUEST_UNAUTHENTICATED, Severity::Warning)
        .denied("authentication required")
        .description(format!(
            "{} {} answered {status}",
            short(method),
            short(path)
        ))
        .metadata(json!({ "method": short(method), "path": short(path), "status": status }))
        .build()
}

/// `authz_fail`: a request was refused by a component that did not say which permission was
/// missing (`metadata.permission` is null), answered with `status` (a 403, or what the app
/// sends instead).
///
/// `path` is the request path without its query string.
pub fn request_forbidden(method: &str, path: &str, status: u16) -> AuditEvent {
    AuditEvent::builder(codes::AUTHZ_FAIL)
        .category(Category::Authorization)
        .severity(Severity::Warning)
        .denied("access denied")
        .description(format!(
            "{} {} answered {status}",
            short(method),
            short(path)
        ))
        .metadata(json!({
            "method": short(method),
            "path": short(path),
            "permission": null,
            "status": status,
        }))
        .build()
}

fn capped(mut text: String) -> String {
    truncate(&mut text, MAX_TEXT_LEN);
    text
}

fn short(text: &str) -> String {
    let mut text = sanitize_claimed_name(text);
    truncate(&mut text, 512);
    text
}

/// An authorization denial (`authz_fail`), built step by step.
///
/// The permission code, the roles the actor held and whether a role assignment was missing
/// go into the metadata (`permission`, `roles`, `missing_role_assignment`), so "who keeps
/// hitting permissions they lack" is one query. Leave the actor unset to take it from the
/// context.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an AuthzDenial does nothing until turned into an event"]
pub struct AuthzDenial {
    permission: String,
    roles: Vec<String>,
    missing_role_assignment: bool,
    actor: Option<Actor>,
    resource: Option<(StaticText, String)>,
    reason: Option<String>,
}

impl AuthzDenial {
    /// A denial of `permission` (such as `booking:create`).
    pub fn new(permission: impl Into<String>) -> Self {
        Self {
            permission: permission.into(),
            roles: Vec::new(),
            missing_role_assignment: false,
            actor: None,
            resource: None,
            reason: None,
        }
    }

    /// The roles the actor held when it was refused.
    pub fn roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the refusal came from a missing role assignment (no role grants the
    /// permission) rather than, say, an ownership rule.
    pub fn missing_role_assignment(mut self, missing: bool) -> Self {
        self.missing_role_assignment = missing;
        self
    }

    /// Who was refused (otherwise the context's actor).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// The thing the actor tried to act on.
    pub fn resource(
        mut self,
        entity_type: impl Into<StaticText>,
        entity_id: impl Into<String>,
    ) -> Self {
        self.resource = Some((entity_type.into(), entity_id.into()));
        self
    }

    /// A reason text (default: `missing permission <code>`).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The permission that was refused.
    pub fn permission(&self) -> &str {
        &self.permission
    }

    /// Builds the `authz_fail` event (category authorization, outcome denied, severity
    /// warning).
    pub fn into_event(self) -> AuditEvent {
        let permission = short(&self.permission);
        let reason = self
            .reason
            .map(capped)
            .unwrap_or_else(|| format!("missing permission {permission}"));
        let mut builder = AuditEvent::builder(codes::AUTHZ_FAIL)
            .category(Category::Authorization)
            .severity(Severity::Warning)
            .denied(reason)
            .description(format!("permission {permission} denied"))
            .metadata(json!({
                "permission": permission,
                "roles": self.roles,
                "missing_role_assignment": self.missing_role_assignment,
            }));
        if let Some(actor) = self.actor {
            builder = builder.actor(actor);
        }
        if let Some((entity_type, entity_id)) = self.resource {
            builder = builder.entity(entity_type, entity_id);
        }
        builder.build()
    }
}

impl From<AuthzDenial> for AuditEvent {
    fn from(denial: AuthzDenial) -> Self {
        denial.into_event()
    }
}

/// `authz_fail` for a role-based refusal: none of `roles` grants `permission`.
///
/// Shorthand for [`AuthzDenial`] with `missing_role_assignment` set; use the builder for
/// refusals of another kind (an ownership rule, a tenant boundary).
pub fn authz_denied<I, R>(permission: impl Into<String>, roles: I) -> AuditEvent
where
    I: IntoIterator<Item = R>,
    R: Into<String>,
{
    AuthzDenial::new(permission)
        .roles(roles)
        .missing_role_assignment(true)
        .into_event()
}

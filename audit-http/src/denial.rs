//! Permission checks that record their own denials, for any framework.

use audit_core::auth::{self, AuthzDenial};
use audit_core::validate::truncate;
use audit_core::{AuditEvent, AuditOutcome, Category, Outcome, Severity};
use serde_json::json;

use crate::edge::record;
use crate::principal::Principal;

/// Why a request was refused by [`authorize`] or [`authorize_request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// No principal: the request is not authenticated (answered 401).
    #[error("authentication required")]
    Unauthenticated,
    /// The principal lacks the permission (answered 403).
    #[error("permission {permission} denied")]
    Forbidden {
        /// The permission that was required.
        permission: String,
    },
}

impl Denial {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::Forbidden { .. } => 403,
        }
    }
}

/// A denial is recorded as `denied` by `#[audited]` functions that fail with it.
impl AuditOutcome for Denial {
    fn audit_outcome(&self) -> Outcome {
        Outcome::Denied
    }
}

fn denial_event(principal: Option<&Principal>, permission: &str) -> AuditEvent {
    match principal {
        None => AuditEvent::builder(auth::codes::REQUEST_UNAUTHENTICATED)
            .category(Category::Authentication)
            .severity(Severity::Warning)
            .denied("authentication required")
            .description(format!("unauthenticated request needing {permission}"))
            .metadata(json!({ "permission": permission, "status": 401 }))
            .build(),
        Some(principal) => AuthzDenial::new(permission)
            .actor(principal.actor.clone())
            .roles(principal.roles.iter().cloned())
            .missing_role_assignment(true)
            .into_event(),
    }
}

/// Checks that `principal` holds `permission`; on refusal records the denial (`authz_fail`
/// with the permission, the roles held and `missing_role_assignment`, or
/// `authn_request_unauthenticated` when there is no principal) and returns the error to
/// answer with.
///
/// For checks inside a handler; the framework integrations' permission guards do the same
/// before the handler runs ([`authorize_request`]).
///
/// ```
/// use audit_http::{authorize, Denial, Principal};
/// use audit_core::{Actor, testing};
///
/// let viewer = Principal::new(Actor::user("vera")).roles(["viewer"]);
/// let (result, captured) = testing::capture(|| authorize(Some(&viewer), "booking:delete"));
/// assert!(matches!(result, Err(Denial::Forbidden { .. })));
/// let event = captured.single();
/// assert_eq!(event.action, "authz_fail");
/// assert_eq!(event.metadata["permission"], "booking:delete");
/// ```
pub fn authorize(principal: Option<&Principal>, permission: &str) -> Result<(), Denial> {
    match principal {
        Some(p) if p.has_permission(permission) => Ok(()),
        Some(_) => {
            record(denial_event(principal, permission));
            Err(Denial::Forbidden {
                permission: permission.to_owned(),
            })
        }
        None => {
            record(denial_event(None, permission));
            Err(Denial::Unauthenticated)
        }
    }
}

/// [`authorize`] for a request about to be served: on refusal the denial also records the
/// request's method and path (`metadata.method`, `metadata.path`). Returns the principal
/// that may go on.
pub fn authorize_request<'p>(
    principal: Option<&'p Principal>,
    permission: &str,
    method: &str,
    path: &str,
) -> Result<&'p Principal, Denial> {
    match principal {
        Some(p) if p.has_permission(permission) => Ok(p),
        _ => {
            let mut event = denial_event(principal, permission);
            if let Some(map) = event.metadata.as_object_mut() {
                map.insert("method".into(), json!(capped(method)));
                map.insert("path".into(), json!(capped(path)));
            }
            record(event);
            Err(match principal {
                None => Denial::Unauthenticated,
                Some(_) => Denial::Forbidden {
                    permission: permission.to_owned(),
                },
            })
        }
    }
}

fn capped(text: &str) -> String {
    let mut text = auth::sanitize_claimed_name(text);
    truncate(&mut text, MAX_LOGGED_PATH);
    text
}

/// Longest request path stored in a denial's metadata.
const MAX_LOGGED_PATH: usize = 512;

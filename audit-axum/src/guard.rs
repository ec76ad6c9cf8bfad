//! RBAC checks that record their own denials.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use audit_core::auth::{self, AuthzDenial};
use audit_core::validate::truncate;
use audit_core::{AuditContext, AuditEvent, Category, Severity};
use axum::response::{IntoResponse, Response};
use http::header::WWW_AUTHENTICATE;
use http::{Request, StatusCode};
use serde_json::json;
use tower::{Layer, Service};

use crate::layer::record;
use crate::principal::Principal;

/// Why a request was refused by [`authorize`] or [`require_permission`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
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

impl Denied {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        // The body never says which permission was missing: that is for the audit log.
        match self {
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                "authentication required",
            )
                .into_response(),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden").into_response(),
        }
    }
}

fn denial_event(principal: Option<&Principal>, permission: &str) -> AuditEvent {
    match principal {
        None => AuditEvent::builder(auth::codes::REQUEST_UNAUTHENTICATED)
            .category(Category::Authentication)
            .severity(Severity::Warning)
            .denied("authentication required")
            .description(format!("unauthenticated request needing {permission}"))
            .metadata(json!({ "permission": permission }))
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
/// For checks inside a handler; [`require_permission`] does the same as a route layer.
///
/// ```
/// use audit_axum::{authorize, Denied, Principal};
/// use audit_core::{Actor, testing};
///
/// let viewer = Principal::new(Actor::user("vera")).roles(["viewer"]);
/// let (result, captured) = testing::capture(|| authorize(Some(&viewer), "booking:delete"));
/// assert!(matches!(result, Err(Denied::Forbidden { .. })));
/// let event = captured.single();
/// assert_eq!(event.action, "authz_fail");
/// assert_eq!(event.metadata["permission"], "booking:delete");
/// ```
pub fn authorize(principal: Option<&Principal>, permission: &str) -> Result<(), Denied> {
    match principal {
        Some(p) if p.has_permission(permission) => Ok(()),
        Some(_) => {
            record(denial_event(principal, permission));
            Err(Denied::Forbidden {
                permission: permission.to_owned(),
            })
        }
        None => {
            record(denial_event(None, permission));
            Err(Denied::Unauthenticated)
        }
    }
}

/// A route layer that lets a request through only if its [`Principal`] holds `permission`.
///
/// A request without a principal is answered 401, one whose principal lacks the permission
/// 403; either way the denial is recorded first (see [`authorize`]). Allowed requests run
/// with the principal's actor in the audit context.
///
/// ```
/// use axum::{Router, routing::post};
/// use audit_axum::{AuditLayer, require_permission};
///
/// async fn create_booking() -> &'static str { "created" }
///
/// let app: Router = Router::new()
///     .route("/bookings", post(create_booking))
///     .route_layer(require_permission("booking:create"))
///     .layer(AuditLayer::new());
/// ```
pub fn require_permission(permission: impl Into<String>) -> RequirePermissionLayer {
    RequirePermissionLayer {
        permission: Arc::from(permission.into()),
    }
}

/// The layer returned by [`require_permission`].
#[derive(Debug, Clone)]
pub struct RequirePermissionLayer {
    permission: Arc<str>,
}

impl<S> Layer<S> for RequirePermissionLayer {
    type Service = RequirePermission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequirePermission {
            inner,
            permission: self.permission.clone(),
        }
    }
}

/// The service produced by [`require_permission`].
#[derive(Debug, Clone)]
pub struct RequirePermission<S> {
    inner: S,
    permission: Arc<str>,
}

impl<S, B> Service<Request<B>> for RequirePermission<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let permission = self.permission.clone();
        let principal = request.extensions().get::<Principal>().cloned();
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        // Everything happens when polled: routers may call a route's service lazily, and
        // the audit context is current while the future is polled.
        Box::pin(async move {
            match authorize_request(principal.as_ref(), &permission, &method, &path) {
                Err(denied) => Ok(denied.into_response()),
                Ok(principal) => {
                    let ctx = principal.apply_to(AuditContext::inherited());
                    ctx.scope(inner.call(request)).await
                }
            }
        })
    }
}

fn authorize_request<'p>(
    principal: Option<&'p Principal>,
    permission: &str,
    method: &str,
    path: &str,
) -> Result<&'p Principal, Denied> {
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
                None => Denied::Unauthenticated,
                Some(_) => Denied::Forbidden {
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

//! RBAC checks that record their own denials, answered as axum responses.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use audit_core::AuditContext;
use audit_http::{Denial, Principal};
use axum::response::{IntoResponse, Response};
use http::header::WWW_AUTHENTICATE;
use http::{Request, StatusCode};
use tower::{Layer, Service};

/// A refusal by [`authorize`] or [`require_permission`], as an axum response: 401 with a
/// `WWW-Authenticate: Bearer` challenge, or 403. The body never says which permission was
/// missing: that is for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct Denied(pub Denial);

impl Denied {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::FORBIDDEN)
    }
}

impl From<Denial> for Denied {
    fn from(denial: Denial) -> Self {
        Self(denial)
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self.0 {
            Denial::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                "authentication required",
            )
                .into_response(),
            _ => (StatusCode::FORBIDDEN, "forbidden").into_response(),
        }
    }
}

/// Checks that `principal` holds `permission`; on refusal records the denial and returns the
/// response to answer with ([`audit_http::authorize`] as an axum response).
///
/// ```
/// use audit_axum::{authorize, Principal};
/// use audit_http::Denial;
/// use audit_core::{Actor, testing};
///
/// let viewer = Principal::new(Actor::user("vera")).roles(["viewer"]);
/// let (result, captured) = testing::capture(|| authorize(Some(&viewer), "booking:delete"));
/// assert!(matches!(result, Err(denied) if matches!(denied.0, Denial::Forbidden { .. })));
/// assert_eq!(captured.single().action, "authz_fail");
/// ```
pub fn authorize(principal: Option<&Principal>, permission: &str) -> Result<(), Denied> {
    audit_http::authorize(principal, permission).map_err(Denied)
}

/// A route layer that lets a request through only if its [`Principal`] holds `permission`.
///
/// A request without a principal is answered 401, one whose principal lacks the permission
/// 403; either way the denial is recorded first (see [`audit_http::authorize_request`]).
/// Allowed requests run with the principal's actor in the audit context.
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
            match audit_http::authorize_request(principal.as_ref(), &permission, &method, &path) {
                Err(denial) => Ok(Denied(denial).into_response()),
                Ok(principal) => {
                    let ctx = principal.apply_to(AuditContext::inherited());
                    ctx.scope(inner.call(request)).await
                }
            }
        })
    }
}

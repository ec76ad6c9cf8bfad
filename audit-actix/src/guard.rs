//! Permission checks that record their own denials, answered as actix-web responses.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use audit_core::{AuditContext, context};
use audit_http::{Denial, Principal};

use crate::identify::warn_outside_audit;
use crate::middleware::LocalFuture;

/// A refusal by [`authorize`] or [`require_permission`], as an actix-web error: 401 with a
/// `WWW-Authenticate: Bearer` challenge, or 403. The body never says which permission was
/// missing: that is for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct Denied(pub Denial);

impl From<Denial> for Denied {
    fn from(denial: Denial) -> Self {
        Self(denial)
    }
}

impl ResponseError for Denied {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::FORBIDDEN)
    }

    fn error_response(&self) -> HttpResponse {
        match self.0 {
            Denial::Unauthenticated => HttpResponse::Unauthorized()
                .insert_header((WWW_AUTHENTICATE, "Bearer"))
                .body("authentication required"),
            _ => HttpResponse::Forbidden().body("forbidden"),
        }
    }
}

/// Checks that `principal` holds `permission`; on refusal records the denial and returns the
/// error to answer with ([`audit_http::authorize`] as an actix-web error).
pub fn authorize(principal: Option<&Principal>, permission: &str) -> Result<(), Denied> {
    audit_http::authorize(principal, permission).map_err(Denied)
}

/// A middleware for a scope or resource that lets a request through only if its
/// [`Principal`] holds `permission`: 401 without a principal, 403 without the permission,
/// the denial recorded first (see [`audit_http::authorize_request`]). Allowed requests run
/// with the principal's actor in the audit context.
///
/// It reads the principal from the request extensions, so it must run inside whatever puts
/// it there ([`Audit`](crate::Audit)'s resolver, [`identify`](crate::identify)): wrap it on
/// the scope, which runs inside the app's middleware.
///
/// ```
/// use actix_web::{App, web};
/// use audit_actix::{Audit, require_permission};
///
/// let app = App::new()
///     .service(
///         web::scope("/admin")
///             .wrap(require_permission("newsletter:publish"))
///             .route("/newsletters", web::post().to(|| async { "published" })),
///     )
///     .wrap(Audit::new());
/// # let _ = app;
/// ```
pub fn require_permission(permission: impl Into<String>) -> RequirePermission {
    RequirePermission {
        permission: Arc::from(permission.into()),
    }
}

/// The middleware returned by [`require_permission`].
#[derive(Debug, Clone)]
pub struct RequirePermission {
    permission: Arc<str>,
}

impl<S, B> Transform<S, ServiceRequest> for RequirePermission
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequirePermissionMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequirePermissionMiddleware {
            service: Rc::new(service),
            permission: Arc::clone(&self.permission),
        }))
    }
}

/// The service [`require_permission`] wraps around a scope or resource.
pub struct RequirePermissionMiddleware<S> {
    service: Rc<S>,
    permission: Arc<str>,
}

impl<S, B> Service<ServiceRequest> for RequirePermissionMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalFuture<Result<Self::Response, Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if AuditContext::current().is_none() {
            warn_outside_audit("require_permission");
        }
        let principal = req.extensions().get::<Principal>().cloned();
        let checked = audit_http::authorize_request(
            principal.as_ref(),
            &self.permission,
            req.method().as_str(),
            req.path(),
        );
        match checked {
            Err(denial) => {
                let response = req.into_response(Denied(denial).error_response());
                Box::pin(ready(Ok(response.map_into_right_body())))
            }
            Ok(principal) => {
                let ctx = Arc::new(principal.apply_to(AuditContext::inherited()));
                let service = Rc::clone(&self.service);
                let future =
                    context::sync_scope_shared(Some(Arc::clone(&ctx)), || service.call(req));
                Box::pin(async move {
                    let response = context::scope_shared(Some(ctx), future).await?;
                    Ok(response.map_into_left_body())
                })
            }
        }
    }
}

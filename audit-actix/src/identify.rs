//! Identifying the user from inside the request, where the session is: [`identify`] as a
//! middleware, [`set_principal`] from an extractor or a handler.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage, HttpRequest};
use audit_core::context::{self, CompleteError};
use audit_http::Principal;

use crate::middleware::Resolver;

static WARNED: AtomicBool = AtomicBool::new(false);

/// Warns once per process that a piece of this crate ran with no audit context around it.
pub(crate) fn warn_outside_audit(what: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "audit-actix: {what} ran outside the Audit middleware, so the request has no audit \
             context: register `Audit` with the last `.wrap()` call, which makes it outermost"
        );
    }
}

/// Makes `principal` the request's principal: in the request extensions (for
/// [`Authenticated`](crate::Authenticated) and [`require_permission`](crate::require_permission))
/// and as a completion of the request's audit context, so every event recorded from now on
/// in the request, and the middleware's refusal bookkeeping after it, carry its actor,
/// session and tenant.
///
/// Call it where the app establishes who the user is (its login handler, its session
/// check). Returns what [`context::complete`] said: an error if the request already has
/// another actor, or runs outside [`Audit`](crate::Audit) (also warned about once).
pub fn set_principal(req: &HttpRequest, principal: Principal) -> Result<(), CompleteError> {
    let completed = context::complete(principal.completion());
    if completed == Err(CompleteError::NoContext) {
        warn_outside_audit("set_principal");
    }
    req.extensions_mut().insert(principal);
    completed
}

/// A middleware that identifies the user of each request with `resolver` and makes it the
/// request's principal ([`set_principal`]).
///
/// Register it **before** (inside) the middleware its resolver reads from, such as the
/// session middleware, and so inside [`Audit`](crate::Audit):
///
/// ```
/// use actix_web::{App, dev::ServiceRequest, web};
/// use audit_actix::{Audit, identify, Principal};
/// use audit_core::Actor;
///
/// fn from_session(req: &ServiceRequest) -> Option<Principal> {
///     // A real app reads its session here (it is in the request by now).
///     let user = req.headers().get("x-demo-user")?.to_str().ok()?;
///     Some(Principal::new(Actor::user(user)))
/// }
///
/// let app = App::new()
///     .route("/", web::get().to(|| async { "hello" }))
///     .wrap(identify(from_session))   // innermost: sees the session
///     // .wrap(SessionMiddleware::new(..))
///     .wrap(Audit::new());              // outermost: sees every response
/// # let _ = app;
/// ```
pub fn identify(
    resolver: impl Fn(&ServiceRequest) -> Option<Principal> + Send + Sync + 'static,
) -> Identify {
    Identify {
        resolver: Arc::new(resolver),
    }
}

/// The middleware returned by [`identify`].
#[derive(Clone)]
pub struct Identify {
    resolver: Resolver,
}

impl std::fmt::Debug for Identify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identify").finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for Identify
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = IdentifyMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(IdentifyMiddleware {
            service: Rc::new(service),
            resolver: Arc::clone(&self.resolver),
        }))
    }
}

/// The service [`identify`] wraps.
pub struct IdentifyMiddleware<S> {
    service: Rc<S>,
    resolver: Resolver,
}

impl<S, B> Service<ServiceRequest> for IdentifyMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = S::Future;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if let Some(principal) = (self.resolver)(&req) {
            // An actor already set (by `Audit`'s resolver) keeps its place; nothing to do.
            let _ = set_principal(req.request(), principal);
        }
        self.service.call(req)
    }
}

//! Extractors for what the middleware resolved: the authenticated principal and the client IP.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use audit_http::{Denial, Principal};

use crate::guard::Denied;

/// The authenticated [`Principal`] of the request (set by [`Audit`](crate::Audit)'s
/// resolver, [`identify`](crate::identify) or [`set_principal`](crate::set_principal)); a
/// request without one is answered 401, which the middleware audits.
///
/// ```
/// use audit_actix::Authenticated;
///
/// async fn me(Authenticated(who): Authenticated) -> String {
///     who.actor.id
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = Denied;
    type Future = Ready<Result<Self, Denied>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = req.extensions().get::<Principal>().cloned();
        ready(
            principal
                .map(Authenticated)
                .ok_or(Denied(Denial::Unauthenticated)),
        )
    }
}

/// The client IP the middleware resolved, in the request's extensions; as an extractor,
/// 500 when there is none (no [`Audit`](crate::Audit) middleware, or no peer address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = req.extensions().get::<ClientIp>().copied();
        ready(ip.ok_or_else(|| actix_web::error::ErrorInternalServerError("client IP unknown")))
    }
}

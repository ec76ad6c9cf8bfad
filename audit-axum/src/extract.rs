//! Extractors for what the layer resolved: the authenticated principal and the client IP.

use std::net::IpAddr;

use audit_http::Principal;
use axum::extract::FromRequestParts;
use http::StatusCode;
use http::request::Parts;

/// The authenticated [`Principal`] of the request; a request without one is answered 401
/// (which the layer audits, since nothing was recorded for it).
///
/// ```
/// use audit_axum::Authenticated;
///
/// async fn me(Authenticated(who): Authenticated) -> String {
///     who.actor.id
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Authenticated)
            .ok_or((StatusCode::UNAUTHORIZED, "authentication required"))
    }
}

/// The client IP resolved for the current request, in the request's extensions; as an
/// extractor, 500 when there is none (no layer, or the server was not started with
/// `into_make_service_with_connect_info::<SocketAddr>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .ok_or((StatusCode::INTERNAL_SERVER_ERROR, "client IP unknown"))
    }
}

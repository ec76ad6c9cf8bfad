//! The tower layer that gives every request its audit context.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use audit_core::validate::{MAX_USER_AGENT_LEN, truncate};
use audit_core::{AuditContext, AuditEvent, auth};
use axum::extract::{ConnectInfo, FromRequestParts};
use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::client_ip::{ClientIpResolver, ForwardedHeader, TrustedProxies};
use crate::principal::Principal;
use crate::request_id::{AcceptRequestId, RequestId, X_REQUEST_ID};

tokio::task_local! {
    static REQUEST: Arc<RequestState>;
}

/// What the layer knows about the request being served.
#[derive(Debug, Default)]
struct RequestState {
    audited: AtomicBool,
}

/// Records `event` (through [`audit_core::record`]) and notes that the current request has
/// been audited, so the layer does not add its own denial event for a 401/403 answer.
///
/// Use it for the events a handler records about its own outcome (a failed login answered
/// 401). Outside a request served by [`AuditLayer`] it is plain [`audit_core::record`].
pub fn record(event: AuditEvent) {
    mark_audited();
    audit_core::record(event);
}

/// Notes that the current request's outcome has been audited by the application (for
/// events it recorded with [`audit_core::record`] directly).
pub fn mark_audited() {
    let _ = REQUEST.try_with(|state| state.audited.store(true, Ordering::Relaxed));
}

/// The client IP resolved for the current request, in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// Finds the principal (actor, roles, permissions) of a request from its headers: decode a
/// bearer token, look up a session cookie.
///
/// It runs before the inner service, on the request's head, and must not block. Closures
/// `Fn(&Parts) -> Option<Principal>` implement it. An app whose authentication is async
/// (a database lookup) can instead insert a [`Principal`] into the request extensions
/// itself, in a middleware outside this layer, or scope the actor with
/// [`AuditContext::inherited`] once it knows it.
pub trait ActorResolver: Send + Sync + 'static {
    /// The principal making the request, if it is authenticated.
    fn resolve(&self, request: &Parts) -> Option<Principal>;
}

impl<F> ActorResolver for F
where
    F: Fn(&Parts) -> Option<Principal> + Send + Sync + 'static,
{
    fn resolve(&self, request: &Parts) -> Option<Principal> {
        self(request)
    }
}

struct Config {
    client_ip: ClientIpResolver,
    actor: Option<Arc<dyn ActorResolver>>,
    request_id_header: HeaderName,
    accept_request_id: AcceptRequestId,
    audit_rejections: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("client_ip", &self.client_ip)
            .field("actor", &self.actor.as_ref().map(|_| ".."))
            .field("request_id_header", &self.request_id_header)
            .field("accept_request_id", &self.accept_request_id)
            .field("audit_rejections", &self.audit_rejections)
            .finish()
    }
}

/// A tower [`Layer`] that runs each request inside an [`AuditContext`] scope.
///
/// Per request it resolves the client IP ([`ClientIpResolver`]), the user agent, the
/// request id (the incoming `x-request-id` if valid and sent by a trusted proxy, see
/// [`AcceptRequestId`], else a new UUIDv7; echoed in the response) and the principal ([`ActorResolver`]), inserts [`ClientIp`], [`RequestId`] and
/// [`Principal`] into the request extensions, and runs the inner service with the context
/// current, so every event recorded while serving the request carries them.
///
/// A response with status 401 or 403 for which nothing was recorded through
/// [`record`](crate::record), [`mark_audited`], [`require_permission`](crate::require_permission)
/// or [`authorize`](crate::authorize) is audited by the layer itself
/// (`authn_request_unauthenticated` or `authz_fail`), so a request refused by an extractor
/// or an auth middleware before any handler ran is never invisible.
///
/// It only sees what runs inside it: add it *outside* your authentication middleware (in
/// axum, with a later `.layer(...)` call than theirs), or a 401 answered by that middleware
/// never reaches it and goes unaudited.
#[derive(Debug, Clone)]
pub struct AuditLayer {
    config: Arc<Config>,
}

impl Default for AuditLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditLayer {
    /// A layer with no trusted proxies, no actor resolver, `x-request-id` (believed from
    /// trusted proxies only), and rejection auditing on.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                client_ip: ClientIpResolver::default(),
                actor: None,
                request_id_header: X_REQUEST_ID.clone(),
                accept_request_id: AcceptRequestId::default(),
                audit_rejections: true,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        if Arc::get_mut(&mut self.config).is_none() {
            let old = &*self.config;
            self.config = Arc::new(Config {
                client_ip: old.client_ip.clone(),
                actor: old.actor.clone(),
                request_id_header: old.request_id_header.clone(),
                accept_request_id: old.accept_request_id,
                audit_rejections: old.audit_rejections,
            });
        }
        match Arc::get_mut(&mut self.config) {
            Some(config) => config,
            None => unreachable!("a freshly built Arc is unique"),
        }
    }

    /// Trusts these reverse proxies' forwarding headers (see [`crate::client_ip`]).
    pub fn trusted_proxies(mut self, trusted: TrustedProxies) -> Self {
        let config = self.config_mut();
        config.client_ip =
            ClientIpResolver::new(trusted).header(config.client_ip.forwarded_header());
        self
    }

    /// Which forwarding header the trusted proxies write (default `X-Forwarded-For`).
    pub fn forwarded_header(mut self, header: ForwardedHeader) -> Self {
        let config = self.config_mut();
        config.client_ip = config.client_ip.clone().header(header);
        self
    }

    /// Resolves the principal of each request.
    pub fn actor_resolver(mut self, resolver: impl ActorResolver) -> Self {
        self.config_mut().actor = Some(Arc::new(resolver));
        self
    }

    /// Reads and echoes this header instead of `x-request-id`.
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        self.config_mut().request_id_header = header;
        self
    }

    /// Whose request id header to believe (default: trusted proxies only). An id that is
    /// not believed is replaced by a new one, in the request too, so handlers see the id
    /// the events carry.
    pub fn accept_request_id(mut self, accept: AcceptRequestId) -> Self {
        self.config_mut().accept_request_id = accept;
        self
    }

    /// Whether 401/403 answers nobody audited are recorded by the layer (default on).
    pub fn audit_rejections(mut self, on: bool) -> Self {
        self.config_mut().audit_rejections = on;
        self
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service produced by [`AuditLayer`].
#[derive(Debug, Clone)]
pub struct AuditService<S> {
    inner: S,
    config: Arc<Config>,
}

/// The boxed future of [`AuditService`].
pub type AuditFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| parts.extensions.get::<SocketAddr>().map(SocketAddr::ip))
}

fn user_agent(parts: &Parts) -> Option<String> {
    let raw = parts.headers.get(USER_AGENT)?;
    let mut text: String = String::from_utf8_lossy(raw.as_bytes())
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    truncate(&mut text, MAX_USER_AGENT_LEN);
    Some(text)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuditService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = AuditFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = self.config.clone();
        let (mut parts, body) = request.into_parts();

        let peer = peer_ip(&parts);
        let believed = match config.accept_request_id {
            AcceptRequestId::FromAnyone => true,
            AcceptRequestId::FromTrustedProxies => {
                peer.is_some_and(|peer| config.client_ip.trusted().contains(peer))
            }
            AcceptRequestId::Never => false,
        };
        let (request_id, generated) = if believed {
            RequestId::from_headers(&parts.headers, &config.request_id_header)
        } else {
            (RequestId::generate(), true)
        };
        let echoed = HeaderValue::from_str(request_id.as_str()).ok();
        if generated && let Some(value) = &echoed {
            parts
                .headers
                .insert(config.request_id_header.clone(), value.clone());
        }

        let mut ctx = AuditContext::new().request_id(request_id.as_str());
        if let Some(peer) = peer {
            let ip = config.client_ip.resolve(peer, &parts.headers);
            ctx = ctx.ip(ip);
            parts.extensions.insert(ClientIp(ip));
        }
        if let Some(agent) = user_agent(&parts) {
            ctx = ctx.user_agent(agent);
        }
        let principal = config
            .actor
            .as_ref()
            .and_then(|resolver| resolver.resolve(&parts))
            .or_else(|| parts.extensions.get::<Principal>().cloned());
        if let Some(principal) = principal {
            ctx = principal.apply_to(ctx);
            parts.extensions.insert(principal);
        }
        parts.extensions.insert(request_id);

        let method = parts.method.clone();
        let path = parts.uri.path().to_owned();
        let request = Request::from_parts(parts, body);

        let state = Arc::new(RequestState::default());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = ctx
            .clone()
            .sync_scope(|| REQUEST.sync_scope(state.clone(), || inner.call(request)));
        let header = config.request_id_header.clone();
        let audit_rejections = config.audit_rejections;

        Box::pin(async move {
            let result = REQUEST
                .scope(state.clone(), ctx.clone().scope(future))
                .await;
            let mut response = result?;
            if let Some(value) = echoed {
                response.headers_mut().insert(header, value);
            }
            let status = response.status();
            let unaudited = !state.audited.load(Ordering::Relaxed);
            if audit_rejections && unaudited {
                let event = match status {
                    StatusCode::UNAUTHORIZED => {
                        Some(auth::request_unauthenticated(method.as_str(), &path))
                    }
                    StatusCode::FORBIDDEN => Some(auth::request_forbidden(method.as_str(), &path)),
                    _ => None,
                };
                if let Some(event) = event {
                    ctx.sync_scope(|| audit_core::record(event));
                }
            }
            Ok(response)
        })
    }
}

/// Rejects a request with 401 when no [`Principal`] was resolved.
///
/// The 401 is audited by [`AuditLayer`] (nothing was recorded for the request), so handlers
/// can simply take a `Principal` argument.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or((StatusCode::UNAUTHORIZED, "authentication required"))
    }
}

/// The client IP [`AuditLayer`] resolved; 500 when there is none (no layer, or the server
/// was not started with `into_make_service_with_connect_info::<SocketAddr>()`).
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

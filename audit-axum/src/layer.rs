//! The tower layer that gives every request its audit context, on the framework-neutral
//! rules of `audit-http`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use audit_core::recorder::Recorder;
use audit_http::client_ip::{ForwardedHeader, TrustedProxies};
use audit_http::{AcceptRequestId, Edge, Headers, Principal};
use axum::extract::ConnectInfo;
use http::header::{HeaderName, HeaderValue, LOCATION};
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use tower::{Layer, Service};

use crate::extract::ClientIp;

/// Finds the principal (actor, roles, permissions) of a request from its headers: decode a
/// bearer token, look up a session cookie.
///
/// It runs before the inner service, on the request's head, and must not block. Closures
/// `Fn(&Parts) -> Option<Principal>` implement it. An app whose authentication is async
/// (a database lookup) or happens in its own extractor completes the request's context from
/// there instead (`audit_core::context::complete(principal.completion())`), or inserts a
/// [`Principal`] into the request extensions in a middleware outside this layer.
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

/// An http 1 header map as plain header values.
struct HttpHeaders<'a>(&'a HeaderMap);

impl Headers for HttpHeaders<'_> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.get_all(name).into_iter().map(HeaderValue::as_bytes)
    }
}

#[derive(Clone)]
struct Config {
    edge: Edge,
    actor: Option<Arc<dyn ActorResolver>>,
    request_id_header: HeaderName,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("edge", &self.edge)
            .field("actor", &self.actor.as_ref().map(|_| ".."))
            .finish()
    }
}

/// A tower [`Layer`] that runs each request inside an [`AuditContext`](audit_core::AuditContext)
/// scope.
///
/// Per request it resolves the client IP (behind trusted proxies), the user agent, the
/// request id (the incoming `x-request-id` if valid and sent by someone believed, see
/// [`AcceptRequestId`], else a new UUIDv7; echoed in the response) and the principal
/// ([`ActorResolver`]), inserts [`ClientIp`], [`RequestId`](audit_http::RequestId) and
/// [`Principal`] into the request extensions, and runs the inner service with the context
/// current, so every event recorded while serving the request carries them. The rules are
/// `audit-http`'s [`Edge`].
///
/// A refusal nothing in the request recorded (a 401 or 403 from an extractor, an auth
/// middleware or a handler; a redirect to the [`login_redirect`](Self::login_redirect)
/// page) is audited by the layer with the status sent, carrying whatever the request's
/// context was completed with (an actor established by the app's own extractor).
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
                edge: Edge::new(),
                actor: None,
                request_id_header: HeaderName::from_static(audit_http::X_REQUEST_ID),
            }),
        }
    }

    fn edge(mut self, change: impl FnOnce(Edge) -> Edge) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.edge = change(config.edge.clone());
        self
    }

    /// Trusts these reverse proxies' forwarding headers (see [`audit_http::client_ip`]).
    pub fn trusted_proxies(self, trusted: TrustedProxies) -> Self {
        self.edge(|edge| edge.trusted_proxies(trusted))
    }

    /// Which forwarding header the trusted proxies write (default `X-Forwarded-For`).
    pub fn forwarded_header(self, header: ForwardedHeader) -> Self {
        self.edge(|edge| edge.forwarded_header(header))
    }

    /// Resolves the principal of each request.
    pub fn actor_resolver(mut self, resolver: impl ActorResolver) -> Self {
        Arc::make_mut(&mut self.config).actor = Some(Arc::new(resolver));
        self
    }

    /// Reads and echoes this header instead of `x-request-id`.
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        Arc::make_mut(&mut self.config).request_id_header = header.clone();
        self.edge(|edge| edge.request_id_header(header.as_str()))
    }

    /// Whose request id header to believe (default: trusted proxies only). An id that is
    /// not believed is replaced by a new one, in the request too, so handlers see the id
    /// the events carry.
    pub fn accept_request_id(self, accept: AcceptRequestId) -> Self {
        self.edge(|edge| edge.accept_request_id(accept))
    }

    /// Whether refusals nobody audited are recorded by the layer (default on).
    pub fn audit_rejections(self, on: bool) -> Self {
        self.edge(|edge| edge.audit_rejections(on))
    }

    /// The app answers unauthenticated requests with a redirect to this path: such a
    /// redirect, to a request without an actor, is audited like a 401 (see
    /// [`Edge::login_redirect`]).
    pub fn login_redirect(self, path: impl Into<String>) -> Self {
        self.edge(|edge| edge.login_redirect(path))
    }

    /// Records this app's events through `recorder` (its own `Auditor`) instead of the
    /// process default: for processes that serve several apps.
    pub fn recorder(self, recorder: impl Into<Arc<dyn Recorder>>) -> Self {
        let recorder = recorder.into();
        self.edge(|edge| edge.recorder(recorder))
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

        let mut audit = config.edge.begin(
            peer_ip(&parts),
            parts.method.as_str(),
            parts.uri.path(),
            &HttpHeaders(&parts.headers),
        );
        let echoed = HeaderValue::from_str(audit.request_id().as_str()).ok();
        if audit.replaces_request_id()
            && let Some(value) = &echoed
        {
            parts
                .headers
                .insert(config.request_id_header.clone(), value.clone());
        }
        if let Some(ip) = audit.client_ip() {
            parts.extensions.insert(ClientIp(ip));
        }
        let principal = config
            .actor
            .as_ref()
            .and_then(|resolver| resolver.resolve(&parts))
            .or_else(|| parts.extensions.get::<Principal>().cloned());
        if let Some(principal) = principal {
            audit.set_principal(&principal);
            parts.extensions.insert(principal);
        }
        parts.extensions.insert(audit.request_id().clone());
        let request = Request::from_parts(parts, body);

        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = audit.sync_scope(|| inner.call(request));
        let header = config.request_id_header.clone();

        Box::pin(async move {
            let mut response = audit.scope(future).await?;
            if let Some(value) = echoed {
                response.headers_mut().insert(header, value);
            }
            let location = response.headers().get(LOCATION).map(HeaderValue::as_bytes);
            audit
                .finish_async(response.status().as_u16(), location)
                .await;
            Ok(response)
        })
    }
}

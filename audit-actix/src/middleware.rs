//! [`Audit`], the middleware that gives every request its audit context, on the
//! framework-neutral rules of `audit-http`.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use actix_web::{Error, HttpMessage};
use audit_core::recorder::Recorder;
use audit_http::client_ip::{ForwardedHeader, TrustedProxies};
use audit_http::{AcceptRequestId, Edge, Headers, Principal};

use crate::extract::ClientIp;

/// Finds the principal of a request from its head (a bearer token); see [`Audit::actor_resolver`].
pub(crate) type Resolver = Arc<dyn Fn(&ServiceRequest) -> Option<Principal> + Send + Sync>;

/// actix-web's header map as plain header values.
struct ActixHeaders<'a>(&'a HeaderMap);

impl Headers for ActixHeaders<'_> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.get_all(name).map(HeaderValue::as_bytes)
    }
}

#[derive(Clone)]
struct Config {
    edge: Edge,
    actor: Option<Resolver>,
    request_id_header: HeaderName,
}

/// The middleware that runs each request inside its audit context.
///
/// Per request it resolves the client IP (behind trusted proxies), the user agent, the
/// request id (the incoming `x-request-id` if valid and sent by someone believed, else a
/// new UUIDv7; written into the request so inner middleware and handlers log the same id,
/// and echoed in the response) and, with an [`actor_resolver`](Self::actor_resolver), the
/// principal; it puts [`ClientIp`], [`RequestId`](audit_http::RequestId) and [`Principal`]
/// into the request extensions and runs everything inside with the context current. A
/// refusal nothing in the request recorded (a 401 or 403 from an extractor, a middleware, a
/// handler or an error; a redirect to the [`login_redirect`](Self::login_redirect) page) is
/// audited with the status sent and whatever the request's context was completed with.
///
/// **Register it last** (`.wrap(Audit::new())` after every other `.wrap()`): actix runs the
/// middleware registered last first, so it is outermost, sees every request before any other
/// middleware and every response after all of them. Identify users *inside* it, where the
/// session is: see the [crate docs](crate).
#[derive(Clone)]
pub struct Audit {
    config: Arc<Config>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("edge", &self.config.edge)
            .field("actor", &self.config.actor.as_ref().map(|_| ".."))
            .finish()
    }
}

impl Default for Audit {
    fn default() -> Self {
        Self::new()
    }
}

impl Audit {
    /// No trusted proxies, no actor resolver, `x-request-id` believed from trusted proxies
    /// only, refusal auditing on, events to the process default recorder.
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

    /// Reads and echoes this header instead of `x-request-id`.
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        Arc::make_mut(&mut self.config).request_id_header = header.clone();
        self.edge(|edge| edge.request_id_header(header.as_str()))
    }

    /// Whose request id header to believe (default: trusted proxies only).
    pub fn accept_request_id(self, accept: AcceptRequestId) -> Self {
        self.edge(|edge| edge.accept_request_id(accept))
    }

    /// Whether refusals nobody audited are recorded (default on).
    pub fn audit_rejections(self, on: bool) -> Self {
        self.edge(|edge| edge.audit_rejections(on))
    }

    /// The app answers unauthenticated requests with a redirect to this path (its login
    /// page): such a redirect, to a request without an actor, is audited like a 401 with the
    /// status actually sent (see [`Edge::login_redirect`]).
    pub fn login_redirect(self, path: impl Into<String>) -> Self {
        self.edge(|edge| edge.login_redirect(path))
    }

    /// Records this app's events through `recorder` (its own `Auditor`) instead of the
    /// process default: for processes that run several apps, such as a test suite that
    /// starts one app per test.
    pub fn recorder(self, recorder: impl Into<Arc<dyn Recorder>>) -> Self {
        let recorder = recorder.into();
        self.edge(|edge| edge.recorder(recorder))
    }

    /// Resolves the principal from the request's head when the request starts (a bearer
    /// token in a header). It runs outermost, before any other middleware: to identify
    /// users from a session, use [`identify`](crate::identify) inside the session
    /// middleware instead.
    pub fn actor_resolver(
        mut self,
        resolver: impl Fn(&ServiceRequest) -> Option<Principal> + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.config).actor = Some(Arc::new(resolver));
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for Audit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = AuditMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuditMiddleware {
            service: Rc::new(service),
            config: Arc::clone(&self.config),
        }))
    }
}

/// The service [`Audit`] wraps around the app.
pub struct AuditMiddleware<S> {
    service: Rc<S>,
    config: Arc<Config>,
}

pub(crate) type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for AuditMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalFuture<Result<Self::Response, Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let config = Arc::clone(&self.config);
        let mut audit = config.edge.begin(
            req.peer_addr().map(|addr| addr.ip()),
            req.method().as_str(),
            req.path(),
            &ActixHeaders(req.headers()),
        );
        let echoed = HeaderValue::from_str(audit.request_id().as_str()).ok();
        if audit.replaces_request_id()
            && let Some(value) = &echoed
        {
            req.headers_mut()
                .insert(config.request_id_header.clone(), value.clone());
        }
        if let Some(ip) = audit.client_ip() {
            req.extensions_mut().insert(ClientIp(ip));
        }
        let resolved = config.actor.as_ref().and_then(|resolve| resolve(&req));
        let principal = resolved.or_else(|| req.extensions().get::<Principal>().cloned());
        if let Some(principal) = principal {
            audit.set_principal(&principal);
            req.extensions_mut().insert(principal);
        }
        req.extensions_mut().insert(audit.request_id().clone());

        let service = Rc::clone(&self.service);
        let future = audit.sync_scope(|| service.call(req));
        let header = config.request_id_header.clone();
        Box::pin(async move {
            let mut response = match audit.scope(future).await {
                Ok(response) => response,
                Err(error) => {
                    // An error from inside becomes its response further out; its status is
                    // what the client gets. (Without the request it cannot carry the id.)
                    let status = error.as_response_error().status_code();
                    audit.finish_async(status.as_u16(), None).await;
                    return Err(error);
                }
            };
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

//! The rules applied at the edge of every request, framework-neutral: [`Edge`] holds the
//! settings, [`RequestAudit`] carries one request from its head to its response.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use audit_core::dispatch::{self, Dispatch};
use audit_core::recorder::{Recorded, Recorder};
use audit_core::validate::{MAX_USER_AGENT_LEN, truncate};
use audit_core::{AuditContext, AuditEvent, Category, Outcome, auth, context};
use serde_json::Value;

use crate::client_ip::{ClientIpResolver, ForwardedHeader, TrustedProxies};
use crate::headers::Headers;
use crate::principal::Principal;
use crate::request_id::{AcceptRequestId, RequestId, X_REQUEST_ID};

tokio::task_local! {
    static REQUEST: Arc<RequestState>;
}

/// What is known about the outcome of the request being served.
#[derive(Debug, Default)]
struct RequestState {
    audited: AtomicBool,
}

impl RequestState {
    fn mark(&self) {
        self.audited.store(true, Ordering::Relaxed);
    }

    fn audited(&self) -> bool {
        self.audited.load(Ordering::Relaxed)
    }
}

/// Records `event` (through [`audit_core::record`]) and notes that the current request's
/// refusal has been audited, so the edge does not add its own event for a 401/403 answer.
///
/// A denied event, or a failed authentication or authorization event, recorded anywhere in
/// the request counts already (an `#[audited]` handler whose error is `denied`, a
/// [`auth::login_failed`]); this is for other events that explain a refusal. Outside a
/// request served by an edge it is plain [`audit_core::record`].
pub fn record(event: AuditEvent) {
    mark_audited();
    audit_core::record(event);
}

/// Notes that the current request's refusal has been audited by the application (see
/// [`record`]).
pub fn mark_audited() {
    let _ = REQUEST.try_with(|state| state.mark());
}

/// Whether an event explains a refusal: denied, or a failed authentication or authorization.
fn explains_a_refusal(event: &AuditEvent) -> bool {
    event.outcome == Outcome::Denied
        || (event.outcome != Outcome::Success
            && matches!(
                event.category,
                Category::Authentication | Category::Authorization
            ))
}

/// The recorder a request runs under: it notes what the request records and forwards every
/// event to where it would have gone.
struct Observing {
    target: Dispatch,
    state: Arc<RequestState>,
}

impl Observing {
    fn observe(&self, recorded: &Recorded) {
        if explains_a_refusal(recorded.event()) {
            self.state.mark();
        }
    }
}

impl Recorder for Observing {
    fn record(&self, recorded: Recorded) {
        self.observe(&recorded);
        self.target.submit(recorded);
    }

    fn record_async<'a>(
        &'a self,
        recorded: Recorded,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        self.observe(&recorded);
        Box::pin(self.target.submit_async(recorded))
    }
}

#[derive(Clone)]
struct Config {
    client_ip: ClientIpResolver,
    request_id_header: String,
    accept_request_id: AcceptRequestId,
    audit_rejections: bool,
    login_path: Option<String>,
    recorder: Option<Arc<dyn Recorder>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("client_ip", &self.client_ip)
            .field("request_id_header", &self.request_id_header)
            .field("accept_request_id", &self.accept_request_id)
            .field("audit_rejections", &self.audit_rejections)
            .field("login_path", &self.login_path)
            .field("recorder", &self.recorder.as_ref().map(|_| ".."))
            .finish()
    }
}

/// The settings of the per-request rules: trusted proxies, the request id header and whom
/// to believe it from, refusal auditing, and where events go. Cheap to clone.
///
/// A framework integration builds one from its own settings, calls [`begin`](Self::begin)
/// with each request's head, runs the request inside [`RequestAudit::scope`], and hands the
/// response's status to [`RequestAudit::finish`]. See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct Edge {
    config: Arc<Config>,
}

impl Default for Edge {
    fn default() -> Self {
        Self::new()
    }
}

impl Edge {
    /// No trusted proxies, `x-request-id` believed from trusted proxies only, refusals
    /// (401, 403) audited, events to the current recorder.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                client_ip: ClientIpResolver::default(),
                request_id_header: X_REQUEST_ID.to_owned(),
                accept_request_id: AcceptRequestId::default(),
                audit_rejections: true,
                login_path: None,
                recorder: None,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
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

    /// Reads and echoes this header instead of `x-request-id` (compared ignoring case).
    pub fn request_id_header(mut self, header: impl Into<String>) -> Self {
        self.config_mut().request_id_header = header.into().to_ascii_lowercase();
        self
    }

    /// Whose request id header to believe (default: trusted proxies only). An id that is
    /// not believed is replaced by a new one.
    pub fn accept_request_id(mut self, accept: AcceptRequestId) -> Self {
        self.config_mut().accept_request_id = accept;
        self
    }

    /// Whether refusals nobody audited are recorded at the edge (default on).
    pub fn audit_rejections(mut self, on: bool) -> Self {
        self.config_mut().audit_rejections = on;
        self
    }

    /// The app answers unauthenticated requests with a redirect to this path (its login
    /// page, as server-rendered apps do) rather than a 401: such a redirect, answered to a
    /// request with no actor, is audited like a 401, with the status actually sent.
    pub fn login_redirect(mut self, path: impl Into<String>) -> Self {
        self.config_mut().login_path = Some(path.into());
        self
    }

    /// Records every request's events through `recorder` (an app's own `Auditor`) instead
    /// of the process default: for processes that serve several apps, each with its own
    /// audit log (tests, multi-tenant hosts).
    pub fn recorder(mut self, recorder: impl Into<Arc<dyn Recorder>>) -> Self {
        self.config_mut().recorder = Some(recorder.into());
        self
    }

    /// The client IP resolver.
    pub fn client_ip(&self) -> &ClientIpResolver {
        &self.config.client_ip
    }

    /// The request id header read and echoed, in lowercase.
    pub fn request_id_header_name(&self) -> &str {
        &self.config.request_id_header
    }

    /// Starts auditing one request from its head: the TCP peer (`None` when the server does
    /// not say: then no IP is recorded and no forwarding header is believed), the method,
    /// the path **without its query string** (which may carry secrets) and the headers.
    pub fn begin(
        &self,
        peer: Option<IpAddr>,
        method: &str,
        path: &str,
        headers: &(impl Headers + ?Sized),
    ) -> RequestAudit {
        let config = &self.config;
        let believed = match config.accept_request_id {
            AcceptRequestId::FromAnyone => true,
            AcceptRequestId::FromTrustedProxies => {
                peer.is_some_and(|peer| config.client_ip.trusted().contains(peer))
            }
            AcceptRequestId::Never => false,
        };
        let (request_id, generated) = if believed {
            RequestId::from_header(headers.first(&config.request_id_header))
        } else {
            (RequestId::generate(), true)
        };
        let mut ctx = AuditContext::new().request_id(request_id.as_str());
        let client_ip = peer.map(|peer| config.client_ip.resolve(peer, headers));
        if let Some(ip) = client_ip {
            ctx = ctx.ip(ip);
        }
        if let Some(agent) = headers.first("user-agent").map(user_agent) {
            ctx = ctx.user_agent(agent);
        }
        let state = Arc::new(RequestState::default());
        let target = match &config.recorder {
            Some(recorder) => Dispatch::to(Arc::clone(recorder)),
            None => dispatch::current(),
        };
        let recorder: Arc<dyn Recorder> = Arc::new(Observing {
            target,
            state: Arc::clone(&state),
        });
        RequestAudit {
            context: Arc::new(ctx),
            request_id,
            replaces_request_id: generated,
            client_ip,
            method: method.to_owned(),
            path: path.to_owned(),
            state,
            recorder,
            config: Arc::clone(&self.config),
        }
    }
}

/// A user agent made safe to store: control characters replaced, length capped.
fn user_agent(raw: &[u8]) -> String {
    let mut text: String = String::from_utf8_lossy(raw)
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    truncate(&mut text, MAX_USER_AGENT_LEN);
    text
}

/// One request on its way through the edge: its context (client IP, user agent, request id,
/// the principal once known), what it recorded, and the refusal bookkeeping at the end.
pub struct RequestAudit {
    context: Arc<AuditContext>,
    request_id: RequestId,
    replaces_request_id: bool,
    client_ip: Option<IpAddr>,
    method: String,
    path: String,
    state: Arc<RequestState>,
    recorder: Arc<dyn Recorder>,
    config: Arc<Config>,
}

impl std::fmt::Debug for RequestAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestAudit")
            .field("context", &self.context)
            .field("replaces_request_id", &self.replaces_request_id)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("audited", &self.state.audited())
            .finish_non_exhaustive()
    }
}

impl RequestAudit {
    /// The request's id (echoed in the response by the integrations).
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// Whether the request id was generated here (none was sent, or it was not believed or
    /// not valid): the integration writes it into the request's own header too, so handlers
    /// see the id the events carry.
    pub fn replaces_request_id(&self) -> bool {
        self.replaces_request_id
    }

    /// The client IP, if the peer is known.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The request's context.
    pub fn context(&self) -> &Arc<AuditContext> {
        &self.context
    }

    /// Adds the principal found before the request runs (its actor, session and tenant).
    /// For one found while it runs, complete the context instead
    /// ([`audit_core::context::complete`] with [`Principal::completion`]).
    pub fn set_principal(&mut self, principal: &Principal) {
        let ctx = principal.apply_to(AuditContext::clone(&self.context));
        self.context = Arc::new(ctx);
    }

    /// Runs the request's future with its context and recorder current, across every
    /// `.await`, wherever it is polled.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        let ctx = Some(Arc::clone(&self.context));
        REQUEST.scope(
            Arc::clone(&self.state),
            context::scope_shared(
                ctx,
                dispatch::with_recorder(Arc::clone(&self.recorder), future),
            ),
        )
    }

    /// Runs `f` with the request's context and recorder current, on this thread (the
    /// synchronous part of calling a service, which may record already).
    pub fn sync_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let ctx = Some(Arc::clone(&self.context));
        REQUEST.sync_scope(Arc::clone(&self.state), || {
            context::sync_scope_shared(ctx, || {
                dispatch::sync_with_recorder(Arc::clone(&self.recorder), f)
            })
        })
    }

    /// Ends the request with the status actually sent (and the `Location` header of a
    /// redirect): a refusal that nothing recorded during the request is audited now, with
    /// everything completed in the request's context (the actor an extractor established):
    ///
    /// - 401: `authn_request_unauthenticated`;
    /// - 403: `authz_fail` without a permission;
    /// - a redirect (3xx) to the [`login_redirect`](Edge::login_redirect) path, answered to a
    ///   request that has no actor: `authn_request_unauthenticated` with that status and the
    ///   target in `metadata.redirect_to`.
    ///
    /// The status is in the event's metadata and description. Nothing is recorded for other
    /// answers, when refusal auditing is off, or when the request recorded its own refusal
    /// (see [`record`]).
    ///
    /// In async code use [`finish_async`](Self::finish_async): under backpressure it waits for
    /// room in the queue without blocking the thread.
    pub fn finish(&self, status: u16, location: Option<&[u8]>) {
        if let Some(event) = self.refusal(status, location) {
            self.sync_scope(|| audit_core::record(event));
        }
    }

    /// [`finish`](Self::finish) for a response future: records through
    /// [`audit_core::record_async`].
    pub async fn finish_async(&self, status: u16, location: Option<&[u8]>) {
        if let Some(event) = self.refusal(status, location) {
            self.scope(audit_core::record_async(event)).await;
        }
    }

    /// The event auditing a refusal answered with `status`, unless none is due.
    fn refusal(&self, status: u16, location: Option<&[u8]>) -> Option<AuditEvent> {
        if !self.config.audit_rejections || self.state.audited() {
            return None;
        }
        let event = match status {
            401 => auth::request_unauthenticated(&self.method, &self.path, status),
            403 => auth::request_forbidden(&self.method, &self.path, status),
            300..=399 => {
                let target = self.login_redirect(location)?;
                let mut event = auth::request_unauthenticated(&self.method, &self.path, status);
                if let Value::Object(map) = &mut event.metadata {
                    map.insert("redirect_to".to_owned(), Value::String(target));
                }
                event
            }
            _ => return None,
        };
        Some(event)
    }

    /// The redirect target's path, if it is the login page and the request has no actor.
    fn login_redirect(&self, location: Option<&[u8]>) -> Option<String> {
        let login = self.config.login_path.as_deref()?;
        let location = std::str::from_utf8(location?).ok()?;
        let target = location_path(location);
        let is_login = target == login || target.strip_suffix('/') == Some(login);
        if !is_login || self.context.snapshot().actor.is_some() {
            return None;
        }
        Some(auth::sanitize_claimed_name(target))
    }
}

/// The path of a `Location` value: `/login?next=/x`, `https://host/login` and `//host/login`
/// all give `/login`.
fn location_path(location: &str) -> &str {
    let rest = match location.find("//") {
        Some(start) if !location[..start].contains('/') => {
            let after = &location[start + 2..];
            after.find('/').map_or("/", |slash| &after[slash..])
        }
        _ => location,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::location_path;

    #[test]
    fn location_paths_drop_scheme_host_query_and_fragment() {
        for (location, path) in [
            ("/login", "/login"),
            ("/login?next=/admin", "/login"),
            ("https://example.org/login#x", "/login"),
            ("//example.org/login", "/login"),
            ("https://example.org", "/"),
            ("login", "login"),
            ("/a//b", "/a//b"),
        ] {
            assert_eq!(location_path(location), path, "{location}");
        }
    }
}

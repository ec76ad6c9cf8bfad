//! The dashboard's configuration, shared state and routes.

use std::sync::Arc;
use std::time::Duration;

use audit_core::{AuditStore, ChainHasher};
use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;

use crate::access::{self, Access, Decision, Permission};
use crate::csrf::Csrf;
use crate::errors::error_page;
use crate::layout::{Chrome, Section};
use crate::links::Links;
use crate::pages;
use crate::stats::Stats;
use crate::verifier::Verifier;
use crate::{assets, security};

/// Records verified per store call during a verification run (about 20 ms of work each at
/// the measured 2.6M events/s of SQLite verification).
pub const DEFAULT_VERIFY_CHUNK: u64 = 50_000;

/// What every handler shares.
pub(crate) struct Inner {
    pub store: Arc<dyn AuditStore>,
    pub access: Arc<dyn Access>,
    pub csrf: Csrf,
    pub stats: Arc<Stats>,
    pub verifier: Arc<Verifier>,
    pub title: String,
    pub live_poll: Duration,
    /// The chain's hasher, when reports (Excel, PDF) are enabled.
    pub reports: Option<ChainHasher>,
}

pub(crate) type Shared = Arc<Inner>;

/// An audit-log dashboard, configured, ready to become a [`Router`].
///
/// ```
/// use audit_core::sinks::MemorySink;
/// use audit_dashboard::{Dashboard, PrincipalAccess};
///
/// let admin: axum::Router = Dashboard::new(MemorySink::new(), PrincipalAccess::new())
///     .title("Bookings audit log")
///     .router();
/// let app: axum::Router = axum::Router::new().nest("/admin/audit", admin);
/// # let _ = app;
/// ```
pub struct Dashboard {
    store: Arc<dyn AuditStore>,
    access: Arc<dyn Access>,
    title: String,
    verify_chunk: u64,
    refresh: Duration,
    live_poll: Duration,
    reports: Option<ChainHasher>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("title", &self.title)
            .field("verify_chunk", &self.verify_chunk)
            .field("refresh", &self.refresh)
            .field("live_poll", &self.live_poll)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// A dashboard over `store` (any [`AuditStore`], or an `Arc` of one), guarded by
    /// `access`.
    pub fn new(store: impl AuditStore, access: impl Access) -> Self {
        Self {
            store: Arc::new(store),
            access: Arc::new(access),
            title: "Audit log".to_owned(),
            verify_chunk: DEFAULT_VERIFY_CHUNK,
            refresh: Duration::from_secs(1),
            live_poll: Duration::from_secs(2),
            reports: None,
        }
    }

    /// Offers the Excel workbook and the PDF report (crate `audit-report`) beside CSV and
    /// JSON Lines. `hasher` is the chain's (its algorithm and, for HMAC, a fingerprint of
    /// the key are printed in the verification statement); the store still verifies with
    /// its own.
    pub fn reports(mut self, hasher: &ChainHasher) -> Self {
        self.reports = Some(hasher.clone());
        self
    }

    /// The name in the page header and titles (default "Audit log").
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Records per verification step (default [`DEFAULT_VERIFY_CHUNK`]); smaller steps
    /// report progress more often.
    pub fn verify_chunk(mut self, records: u64) -> Self {
        self.verify_chunk = records.max(1);
        self
    }

    /// How often the overview's counts read new events (default 1 s).
    pub fn refresh_every(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// How often the live view's script asks for new events (default 2 s).
    pub fn live_poll_every(mut self, every: Duration) -> Self {
        self.live_poll = every;
        self
    }

    /// The routes, to `nest` under a path of the host's choice (or serve at the root).
    ///
    /// When called inside a tokio runtime, the overview's counts start building right
    /// away; otherwise on the first request.
    pub fn router(self) -> Router {
        let stats = Stats::new(self.store.clone(), self.refresh);
        stats.ensure_started();
        let inner: Shared = Arc::new(Inner {
            verifier: Verifier::new(self.store.clone(), self.verify_chunk),
            store: self.store,
            access: self.access,
            csrf: csrf_key(),
            stats,
            title: self.title,
            live_poll: self.live_poll,
            reports: self.reports,
        });
        let guarded = |router: Router<Shared>, permission: Permission| {
            router.route_layer(middleware::from_fn_with_state(
                (inner.clone(), permission),
                guard,
            ))
        };
        let read = Router::new()
            .route("/", get(pages::overview::page))
            .route("/events", get(pages::events::page))
            .route("/events/{seq}", get(pages::event::page))
            .route("/actor", get(pages::timeline::actor))
            .route("/entity", get(pages::timeline::entity))
            .route("/live", get(pages::live::page))
            .route("/live/feed", get(pages::live::feed))
            .route("/verify", get(pages::verify::page))
            .route("/verify/status", get(pages::verify::status));
        let export = Router::new().route("/export", get(pages::export::download));
        let verify = Router::new().route("/verify/run", post(pages::verify::start));
        Router::new()
            .merge(guarded(read, Permission::Read))
            .merge(guarded(export, Permission::Export))
            .merge(guarded(verify, Permission::Verify))
            .route("/static/{name}", get(assets::serve))
            .fallback(not_found)
            .layer(middleware::map_response(security::security_headers))
            .with_state(inner)
    }
}

impl Dashboard {
    /// The routes nested under `path` (e.g. `/admin/audit`), plus `path/` redirecting to
    /// `path` with its query kept: axum's `nest` alone answers 404 for the trailing slash,
    /// which people type and link to. Merge the result into the host's router:
    ///
    /// ```
    /// # use audit_core::sinks::MemorySink;
    /// # use audit_dashboard::{Dashboard, PrincipalAccess};
    /// let app: axum::Router = axum::Router::new()
    ///     .merge(Dashboard::new(MemorySink::new(), PrincipalAccess::new()).mount("/admin/audit"));
    /// # let _ = app;
    /// ```
    ///
    /// A `path` of `/` (or empty) serves the dashboard at the root. Panics, like `nest`, on
    /// a path axum cannot route (one holding a `{capture}` or a wildcard).
    pub fn mount(self, path: &str) -> Router {
        let path = format!("/{}", path.trim_matches('/'));
        if path == "/" {
            return self.router();
        }
        let target = path.clone();
        let slash = get(move |uri: http::Uri| async move {
            let to = match uri.query() {
                Some(query) => format!("{target}?{query}"),
                None => target,
            };
            axum::response::Redirect::permanent(&to)
        });
        Router::new()
            .route(&format!("{path}/"), slash)
            .layer(middleware::map_response(security::security_headers))
            .nest(&path, self.router())
    }
}

/// The dashboard's routes over `store`, guarded by `access`: shorthand for
/// [`Dashboard::new`]`(store, access).router()`.
pub fn router(store: impl AuditStore, access: impl Access) -> Router {
    Dashboard::new(store, access).router()
}

fn csrf_key() -> Csrf {
    match Csrf::random() {
        Ok(csrf) => csrf,
        Err(err) => {
            // Still unpredictable to clients: std's hasher keys come from the OS at start.
            tracing::error!(error = %err, "audit dashboard: no OS randomness for the CSRF key");
            use std::hash::{BuildHasher, Hasher};
            let mut key = Vec::with_capacity(32);
            for i in 0..4u64 {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(i);
                key.extend_from_slice(&h.finish().to_be_bytes());
            }
            Csrf::with_key(&key)
        }
    }
}

/// The links of a request, from the full path and the path the dashboard saw.
pub(crate) fn links_of(parts: &http::request::Parts) -> Links {
    let original = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |o| o.0.path());
    Links::from_paths(original, parts.uri.path())
}

/// Runs a page only for a viewer holding `needed`, inside the viewer's audit context.
async fn guard(
    State((inner, needed)): State<(Shared, Permission)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let links = links_of(&parts);
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path().to_owned(), |o| o.0.path().to_owned());
    let decision = inner.access.authorize(&parts).await;
    let chrome = |title: &str| Chrome::new(&links, &inner.title, "", title, Section::Other);
    match access::decide(decision, needed, parts.method.as_str(), &path) {
        Decision::Allowed(viewer) => {
            let ctx = access::viewer_context(&viewer);
            parts.extensions.insert(viewer);
            ctx.scope(next.run(Request::from_parts(parts, body))).await
        }
        Decision::Unauthenticated => error_page(
            &chrome("Sign in required"),
            StatusCode::UNAUTHORIZED,
            "Sign in to see the audit log.".to_owned(),
            inner.access.login_url(),
        ),
        Decision::Forbidden => error_page(
            &chrome("Access denied"),
            StatusCode::FORBIDDEN,
            format!("You do not hold the permission {needed}. The refusal has been recorded."),
            None,
        ),
    }
}

async fn not_found(State(inner): State<Shared>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let links = links_of(&parts);
    let chrome = Chrome::new(&links, &inner.title, "", "Not found", Section::Other);
    error_page(
        &chrome,
        StatusCode::NOT_FOUND,
        "There is no such page in the audit dashboard.".to_owned(),
        None,
    )
}

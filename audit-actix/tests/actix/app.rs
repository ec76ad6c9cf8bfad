//! A small newsletter service, as the second real integration had it: a session (here a
//! cookie read by a stand-in session middleware), an admin area behind a permission, a
//! server-rendered page that redirects to the login page, and idempotent publishing; and
//! the server that runs it on its own actix runtime.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::LOCATION;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use audit_actix::{Audit, Authenticated, Principal, identify, require_permission};
use audit_core::query::Order;
use audit_core::{Actor, AuditEvent, AuditQuery, AuditStore, audited};
use audit_pipeline::Auditor;
use audit_sqlite::SqliteStore;

/// What the stand-in session middleware found in the `session` cookie.
#[derive(Clone)]
pub struct Session(String);

fn cookie(req: &ServiceRequest, name: &str) -> Option<String> {
    let header = req.headers().get("cookie")?.to_str().ok()?;
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// The app's identification, from its session: only visible inside the session middleware.
fn from_session(req: &ServiceRequest) -> Option<Principal> {
    let Session(user) = req.extensions().get::<Session>()?.clone();
    let principal =
        Principal::new(Actor::user(format!("u-{user}"))).session_id(format!("sess-{user}"));
    Some(match user.as_str() {
        "admin" => principal
            .roles(["admin"])
            .permissions(["newsletter:publish"]),
        _ => principal.roles(["viewer"]),
    })
}

pub struct Subscribed {
    id: String,
}

impl Subscribed {
    fn json(&self) -> String {
        format!(r#"{{"id":"{}"}}"#, self.id)
    }
}

#[audited("SUBSCRIPTION_CREATED", entity_type = "subscription", entity_id = |res| res.id)]
async fn subscribe(body: String) -> Result<Subscribed, actix_web::Error> {
    if body.is_empty() {
        return Err(actix_web::error::ErrorBadRequest("empty subscription"));
    }
    Ok(Subscribed {
        id: format!("sub-{}", body.len()),
    })
}

async fn subscriptions(body: String) -> HttpResponse {
    match subscribe(body).await {
        Ok(created) => HttpResponse::Created().body(created.json()),
        Err(err) => HttpResponse::from_error(err),
    }
}

/// A server-rendered page: anonymous visitors are sent to the login page.
async fn dashboard(req: HttpRequest) -> HttpResponse {
    match req.extensions().get::<Principal>() {
        Some(who) => HttpResponse::Ok().body(format!("hello {}", who.actor.id)),
        None => HttpResponse::SeeOther()
            .insert_header((LOCATION, "/login?next=%2Fadmin%2Fdashboard"))
            .finish(),
    }
}

/// Refuses everyone, after the session identified them: the middleware's 403 bookkeeping.
async fn members_only(Authenticated(_): Authenticated) -> HttpResponse {
    HttpResponse::Forbidden().finish()
}

/// Idempotency keys already used.
#[derive(Default)]
pub struct Published(Mutex<HashSet<String>>);

pub struct Issue {
    id: String,
    replayed: bool,
}

#[audited(
    "NEWSLETTER_PUBLISHED",
    entity_type = "newsletter_issue",
    entity_id = |issue| issue.id,
    metadata(idempotency_key = key, replay = |issue| issue.replayed)
)]
async fn publish_issue(published: &Published, key: String) -> Result<Issue, String> {
    let first = published
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.clone());
    Ok(Issue {
        id: format!("issue-{key}"),
        replayed: !first,
    })
}

async fn publish(req: HttpRequest, published: web::Data<Published>) -> HttpResponse {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    match publish_issue(&published, key).await {
        Ok(issue) => HttpResponse::Ok().body(issue.id),
        Err(err) => HttpResponse::InternalServerError().body(err),
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

/// The app, with `audit` outermost and the identification inside the session middleware.
pub fn app(
    audit: Audit,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(Published::default()))
        .route("/subscriptions", web::post().to(subscriptions))
        .route("/admin/dashboard", web::get().to(dashboard))
        .route("/members", web::get().to(members_only))
        .service(
            web::resource("/admin/newsletters")
                .wrap(require_permission("newsletter:publish"))
                .route(web::post().to(publish)),
        )
        .route("/blocked", web::get().to(HttpResponse::Ok))
        .route(
            "/record",
            web::get().to(|| async {
                audit_core::record(AuditEvent::builder("HANDLER_RECORDED").build());
                "ok"
            }),
        )
        // Innermost: the session is there by now.
        .wrap(identify(from_session))
        // A stand-in for a session middleware.
        .wrap_fn(|req, srv| {
            if let Some(user) = cookie(&req, "session") {
                req.extensions_mut().insert(Session(user));
            }
            srv.call(req)
        })
        // A middleware that refuses with an error rather than a response.
        .wrap_fn(|req, srv| -> Boxed<Result<_, actix_web::Error>> {
            if req.path() == "/blocked" {
                Box::pin(async { Err(actix_web::error::ErrorForbidden("blocked")) })
            } else {
                Box::pin(srv.call(req))
            }
        })
        // Outermost.
        .wrap(audit)
}

/// A running server with its own audit log (an `Auditor` over a SQLite file).
pub struct Server {
    pub url: String,
    pub auditor: Auditor,
    pub store: SqliteStore,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the app on 127.0.0.1 on a free port, `configure` adjusting its `Audit`.
    pub fn start(configure: impl FnOnce(Audit) -> Audit) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("audit.db")).expect("open store");
        let auditor = Auditor::builder(store.clone()).build().expect("auditor");
        let audit = configure(Audit::new().recorder(auditor.clone()));
        let (tx, rx) = std::sync::mpsc::channel::<(SocketAddr, actix_web::dev::ServerHandle)>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || app(audit.clone()))
                    .workers(1)
                    .bind(("127.0.0.1", 0))
                    .expect("bind 127.0.0.1");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle()))
                    .expect("report the address");
                server.await.expect("server ran");
            });
        });
        let (addr, handle) = rx.recv().expect("server started");
        Self {
            url: format!("http://{addr}"),
            auditor,
            store,
            handle,
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Every stored event, oldest first, once the auditor has written what it was given.
    pub async fn events(&self) -> Vec<AuditEvent> {
        self.auditor.flush().await.expect("flush");
        let page = self
            .store
            .query(&AuditQuery::new().order(Order::OldestFirst).limit(1000))
            .await
            .expect("query");
        page.events.into_iter().map(|stored| stored.event).collect()
    }

    /// Stops the server (and its runtime) and the auditor.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let _ = self.auditor.shutdown().await;
    }
}

//! FTMS booking service: the audit workspace's flagship example.
//!
//! ```text
//! cargo run -p ftms-booking                 # http://127.0.0.1:3000, log in ./ftms-booking.db
//! cargo run -p ftms-booking -- --addr 127.0.0.1:8080 --db /tmp/audit.db --trust-proxy 127.0.0.1
//! ```
//!
//! Every login, logout, permission denial, booking and cancellation lands in a
//! tamper-evident SQLite audit log that admins query at `GET /audit` and verify at
//! `GET /audit/verify`. Alert rules watch the log as it is written: 5 failed logins from one
//! IP within 5 minutes, or 10 denials for one user within a minute, record a critical
//! `AUDIT_ALERT_FIRED` event and print a line on stderr.
//!
//! Options (or environment variables): `--addr` (`FTMS_ADDR`, default `127.0.0.1:3000`; port
//! 0 picks a free one), `--db` (`FTMS_DB`, default `ftms-booking.db`, created with its
//! directory on first run), `--trust-proxy` (`FTMS_TRUSTED_PROXIES`, comma-separated; the
//! reverse proxies whose `X-Forwarded-For` is believed).

mod app;
mod bookings;
mod signin;
mod users;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit::alert::{Alert, AlertEngine, AlertRule};
use audit::axum::client_ip::{InvalidNetwork, TrustedProxies};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("usage: ftms-booking [--addr HOST:PORT] [--db PATH] [--trust-proxy CIDR]...\n{0}")]
    Usage(String),
    #[error(transparent)]
    Network(#[from] InvalidNetwork),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start auditing: {0}")]
    Audit(#[from] audit::InitError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

struct Options {
    addr: SocketAddr,
    db: PathBuf,
    trusted: Vec<String>,
}

fn options() -> Result<Options, StartError> {
    let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let mut addr = env_or("FTMS_ADDR", "127.0.0.1:3000");
    let mut db = env_or("FTMS_DB", "ftms-booking.db");
    let mut trusted: Vec<String> = std::env::var("FTMS_TRUSTED_PROXIES")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| StartError::Usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--addr" => addr = value()?,
            "--db" => db = value()?,
            "--trust-proxy" => trusted.push(value()?),
            "-h" | "--help" => return Err(StartError::Usage(String::new())),
            other => return Err(StartError::Usage(format!("unknown argument {other}"))),
        }
    }
    let addr = addr
        .parse()
        .map_err(|_| StartError::Usage(format!("invalid --addr {addr}")))?;
    Ok(Options {
        addr,
        db: PathBuf::from(db),
        trusted,
    })
}

fn alert_engine() -> AlertEngine {
    AlertEngine::new(|alert: &Alert| {
        eprintln!(
            "ALERT {}: {} events for {} {} within {}s",
            alert.rule,
            alert.count,
            alert.group_by,
            alert.key,
            alert.window.as_secs()
        );
    })
    .rule(AlertRule::failed_logins_per_ip(5, Duration::from_secs(300)))
    .rule(AlertRule::denials_per_actor(10, Duration::from_secs(60)))
}

async fn run() -> Result<(), StartError> {
    let options = options()?;
    let trusted = TrustedProxies::parse(options.trusted.iter().filter(|s| !s.trim().is_empty()))?;

    if let Some(dir) = options.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StartError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    // Drains the audit queue into the file when dropped, however `run` returns.
    let audit = audit::init(audit::sqlite(&options.db).auditor(|b| b.observer(alert_engine())))?;

    let state = Arc::new(app::AppState {
        users: users::Users::demo(),
        bookings: bookings::Bookings::demo(),
        store: audit.store().clone(),
    });
    let app = app::router(state, trusted);

    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: options.addr,
            source,
        })?;
    let local = listener.local_addr().map_err(StartError::Serve)?;
    // A closed stdout (a supervisor that stopped reading) must not stop the service.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ftms-booking listening on http://{local}");
    let _ = writeln!(out, "audit log: {}", options.db.display());
    let _ = out.flush();
    drop(out);

    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    // Drain the audit queue now, to report what could not be written.
    if let Err(err) = audit.shutdown().await {
        eprintln!("audit pipeline shutdown: {err}");
    }
    served.map_err(StartError::Serve)
}

/// Ctrl-C, or SIGTERM on Unix (what service managers send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            std::process::ExitCode::FAILURE
        }
    }
}

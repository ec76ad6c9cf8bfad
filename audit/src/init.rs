//! Starting the pipeline in one call: [`init`] opens a store, builds its [`Auditor`],
//! installs it as the process default and returns a guard that drains it on drop.

use std::path::{Path, PathBuf};

use audit_core::AuditSink;
use audit_core::dispatch::SetGlobalDefaultError;
use audit_core::sink::BoxError;
use audit_pipeline::{Auditor, AuditorBuilder, AuditorGuard, BuildError, RecordError};

/// Why [`init`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The store could not be opened (a file that is not a database, a schema newer than this
    /// library, an unreachable server).
    #[error("the audit store could not be opened: {0}")]
    Store(#[source] BoxError),
    /// The pipeline's settings were refused.
    #[error(transparent)]
    Pipeline(#[from] BuildError),
    /// A process default was installed already: `init` runs once per process. (The auditor
    /// it built was shut down again.)
    #[error(transparent)]
    AlreadyInstalled(#[from] SetGlobalDefaultError),
}

/// A store and the settings of the [`Auditor`] that [`init`] builds over it.
///
/// Made by [`sqlite`](crate::sqlite()) (and the other backends' constructors), or by
/// [`Setup::new`] for any sink, including your own:
///
/// ```
/// use std::time::Duration;
/// use audit::sinks::MemorySink;
///
/// let store = MemorySink::new();
/// let setup = audit::Setup::new(store.clone())
///     .auditor(|builder| builder.max_linger(Duration::from_millis(5)));
/// # let _ = setup;
/// ```
#[must_use = "a setup does nothing until it is passed to `audit::init`"]
pub struct Setup<S> {
    open: Box<dyn FnOnce() -> Result<S, BoxError>>,
    spool_dir: Option<PathBuf>,
    configure: Vec<Box<dyn FnOnce(AuditorBuilder) -> AuditorBuilder>>,
}

impl<S> std::fmt::Debug for Setup<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("spool_dir", &self.spool_dir)
            .field("configured", &self.configure.len())
            .finish_non_exhaustive()
    }
}

impl<S: AuditSink + Clone> Setup<S> {
    /// A setup over an already opened store (or any [`AuditSink`] that is `Clone`).
    pub fn new(store: S) -> Self {
        Self::opening(move || Ok(store))
    }

    /// A setup whose store is opened by `init`, so that opening errors surface there.
    pub fn opening(open: impl FnOnce() -> Result<S, BoxError> + 'static) -> Self {
        Self {
            open: Box::new(open),
            spool_dir: None,
            configure: Vec::new(),
        }
    }

    /// Where batches the store cannot take yet are spooled (see
    /// [`AuditorBuilder::spool_dir`]). [`sqlite`](crate::sqlite()) sets one beside the file.
    pub fn spool_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.spool_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Adjusts the [`Auditor`]'s settings (queue, batching, overflow, retry, observers).
    pub fn auditor(
        mut self,
        configure: impl FnOnce(AuditorBuilder) -> AuditorBuilder + 'static,
    ) -> Self {
        self.configure.push(Box::new(configure));
        self
    }

    /// Opens the store and builds its auditor, without installing it anywhere: for
    /// processes that route each app through [`Auditor::scope`] instead of a global default.
    pub fn build(self) -> Result<(S, Auditor), InitError> {
        let store = (self.open)().map_err(InitError::Store)?;
        let mut builder = Auditor::builder(store.clone());
        if let Some(dir) = self.spool_dir {
            builder = builder.spool_dir(dir);
        }
        for configure in self.configure {
            builder = configure(builder);
        }
        Ok((store, builder.build()?))
    }
}

/// Starts auditing: opens the store, builds its [`Auditor`], installs it as the process
/// default (once per process) and returns the guard that drains it.
///
/// Events recorded before `init` (by libraries, at start-up) are held and written now; see
/// [`dispatch`](crate::dispatch).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("audit.db");
/// use audit::AuditStore;
///
/// let audit = audit::init(audit::sqlite(&path))?;
/// audit::record(audit::AuditEvent::builder("SERVICE_STARTED").build());
/// audit.flush_blocking()?;
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// let stored = rt.block_on(audit.store().count(&audit::AuditQuery::new()))?;
/// assert_eq!(stored, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init<S: AuditSink + Clone>(setup: Setup<S>) -> Result<Audit<S>, InitError> {
    let (store, auditor) = setup.build()?;
    if let Err(err) = auditor.set_global_default() {
        // Nothing was recorded through it; stop its worker rather than leave it running.
        let _ = auditor.shutdown_blocking();
        return Err(err.into());
    }
    Ok(Audit {
        _guard: auditor.guard(),
        auditor,
        store,
    })
}

/// The running audit pipeline that [`init`] returned. Dropping it drains the queue into the
/// store (waiting at most the auditor's
/// [`guard_timeout`](AuditorBuilder::guard_timeout), 10 s by default) and stops the worker,
/// so a service that simply returns from `main` keeps its last events: no `shutdown` call
/// is needed for that.
///
/// What a drop cannot cover: `std::process::exit`, `abort`, or a signal whose default action
/// kills the process run no destructors, and SIGTERM (what systemd, Docker and Kubernetes
/// send to stop a service) and SIGINT (Ctrl-C) do kill it by default. A service stopped by
/// a signal catches it and returns from `main`: [`shutdown_signal`] resolves on either, for
/// the framework's graceful shutdown, as in this axum-style sketch:
///
/// ```no_run
/// # async fn serve(_shutdown: impl std::future::Future<Output = ()>) {}
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let _audit = audit::init(audit::sqlite("audit.db"))?;
/// // axum: axum::serve(listener, app).with_graceful_shutdown(audit::shutdown_signal()).await
/// // actix-web: HttpServer handles both signals itself and returns from `run().await`.
/// serve(audit::shutdown_signal()).await;
/// Ok(()) // `_audit` drops here: the queue is drained into the store
/// # }
/// ```
///
/// [`shutdown`](Self::shutdown) does the same drain earlier and reports what could not be
/// written; call it when the exit code or a log line should say so.
#[must_use = "dropping the guard drains and stops the auditor at once; bind it: `let _audit = audit::init(..)?`"]
#[derive(Debug)]
pub struct Audit<S> {
    // Dropped first: drains the queue while the store is still open.
    _guard: AuditorGuard,
    auditor: Auditor,
    store: S,
}

impl<S> Audit<S> {
    /// The store, for queries, verification and export.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The auditor events are recorded through.
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// Waits until every event recorded so far is committed (or safely spooled).
    pub async fn flush(&self) -> Result<(), RecordError> {
        self.auditor.flush().await
    }

    /// [`flush`](Self::flush) for synchronous code.
    pub fn flush_blocking(&self) -> Result<(), RecordError> {
        self.auditor.flush_blocking()
    }

    /// Drains and stops the auditor now, reporting what could not be written; the guard's
    /// drop then has nothing left to do.
    pub async fn shutdown(&self) -> Result<(), RecordError> {
        self.auditor.shutdown().await
    }
}

/// Resolves when the process is asked to stop: on SIGTERM or SIGINT (Ctrl-C) on Unix, on
/// Ctrl-C elsewhere. Pass it to the web framework's graceful shutdown and return from
/// `main`, so the [`Audit`] guard drains the queue (see its docs).
///
/// Catching the signals is set up on the first poll, inside a tokio runtime with its IO
/// driver (what `#[tokio::main]` builds). If they cannot be caught it never resolves, and
/// the signal's default action applies as without it.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

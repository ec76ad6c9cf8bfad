//! Ctrl-C and SIGTERM: they end a command by dropping it, so its temporary output is removed
//! ([`until_interrupted`]), or, for the server, end it gracefully ([`stop_requested`]).

use std::future::Future;

use crate::error::CliError;

/// Runs `work` until it ends or the process is asked to stop (SIGINT or SIGTERM); then the
/// work is dropped (its output files clean up after themselves) and the result is
/// [`CliError::interrupted`].
pub async fn until_interrupted<T>(
    work: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    let stop = stop_requested()?;
    tokio::select! {
        result = work => result,
        () = stop => Err(CliError::interrupted()),
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM; Ctrl-C off Unix). The
/// handlers are installed when this is called, before the returned future is awaited.
pub fn stop_requested() -> Result<impl Future<Output = ()>, CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

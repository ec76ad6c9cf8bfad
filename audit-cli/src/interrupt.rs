//! Ctrl-C and SIGTERM end a command by dropping it, so its temporary output is removed.

use std::future::Future;

use crate::error::CliError;

/// Runs `work` until it ends or the process is asked to stop (SIGINT or SIGTERM); then the
/// work is dropped (its output files clean up after themselves) and the result is
/// [`CliError::interrupted`].
pub async fn until_interrupted<T>(
    work: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            result = work => result,
            _ = int.recv() => Err(CliError::interrupted()),
            _ = term.recv() => Err(CliError::interrupted()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            result = work => result,
            _ = tokio::signal::ctrl_c() => Err(CliError::interrupted()),
        }
    }
}

//! The outbox relay loop every backend runs in the background, and its handle.

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::runtime::StoreRuntime;

/// Outbox rows a relay moves per transaction.
pub(crate) const RELAY_BATCH: u32 = 1000;

/// A store whose outbox a relay drains.
#[async_trait]
pub(crate) trait Relay: Send + Sync + 'static {
    /// Moves up to `max` committed outbox rows into the chain; returns how many.
    async fn relay_batch(&self, max: u32) -> Result<usize>;
}

/// What a relay waits for between drains (a notification, or just time).
#[async_trait]
pub(crate) trait Wake: Send + 'static {
    async fn wait(&mut self);
}

/// Drains `relay`'s outbox, then waits for `wake`, until the handle is stopped. Errors are
/// logged and retried at the next wake-up. The task runs on the store's own `runtime`, so a
/// relay needs no runtime of the caller's and outlives none.
pub(crate) fn spawn(runtime: &StoreRuntime, relay: impl Relay, mut wake: impl Wake) -> RelayHandle {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let task = runtime.spawn(async move {
        loop {
            loop {
                match relay.relay_batch(RELAY_BATCH).await {
                    Ok(moved) if moved == RELAY_BATCH as usize => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::error!(%err, "outbox relay failed; retrying later");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = wake.wait() => {}
                _ = stop_rx.changed() => break,
            }
        }
    });
    RelayHandle {
        stop: stop_tx,
        task: Some(task),
    }
}

/// A running outbox relay; [`stop`](Self::stop) it to end it (dropping it stops it too).
#[derive(Debug)]
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RelayHandle {
    /// Stops the relay after its current pass and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

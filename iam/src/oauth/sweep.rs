//! The periodic sweep that deletes expired refresh tokens from the store, whatever the
//! backend (a server without TTL indexes included).

use std::sync::Arc;
use std::time::Duration;

use portcullis_resource_guard::Clock;
use tokio::task::JoinHandle;

use super::store::OAuthStore;

/// How many records one store call deletes at most.
const BATCH: u64 = 1000;
/// How many batches one sweep runs at most: a backlog larger than this waits for the
/// next sweep, so a sweep never keeps the store busy for long.
const MAX_BATCHES: u32 = 100;

/// The running sweep; dropping it stops it (the IAM's state owns it, so the sweep ends
/// when the last clone of the IAM is dropped, or with its runtime).
#[derive(Debug)]
pub(crate) struct Sweeper(Option<JoinHandle<()>>);

impl Sweeper {
    /// Sweeps `store` every `interval` (the first time after one interval), reading "now"
    /// from `clock`. Outside a tokio runtime there is nothing to run it on: it is not
    /// started, with a warning.
    pub(crate) fn start(
        store: Arc<dyn OAuthStore>,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> Self {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "not inside a tokio runtime: expired refresh tokens are not swept from the store"
            );
            return Self(None);
        };
        Self(Some(runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                sweep_once(store.as_ref(), clock.unix_seconds()).await;
            }
        })))
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Deletes expired records in batches until one comes back short (or [`MAX_BATCHES`]);
/// returns how many it deleted. A store error ends this sweep with a warning; the next
/// one tries again.
pub(crate) async fn sweep_once(store: &dyn OAuthStore, now: u64) -> u64 {
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        match store.delete_expired_refresh_tokens(now, BATCH).await {
            Ok(deleted) => {
                total += deleted;
                if deleted < BATCH {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "sweeping expired refresh tokens failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(deleted = total, "deleted expired refresh tokens");
    }
    total
}

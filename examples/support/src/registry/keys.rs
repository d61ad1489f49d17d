//! The IAM's public keys for the token guard, fetched from whichever IAM instance the
//! registry lists: a [`KeySource`] kept fresh by a background task that calls
//! `/.well-known/jwks.json` through the balanced client following the IAM.
//!
//! The guard's own JWKS fetcher takes one fixed URL; in a fleet the IAM's instances come
//! and go, so the keys are fetched through the same client (breakers, failover) as the
//! login proxy's calls. Every instance of one IAM serves the same keys (they share the
//! signing key file).

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use portcullis_circuit_breaker::BalancedClient;
use portcullis_resource_guard::KeySource;
use portcullis_resource_guard::jsonwebtoken::jwk::JwkSet;

/// The IAM's JWKS route.
const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The largest key set read; the IAM's is well under a kilobyte a key.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The pause before another try after a failed fetch (all IAM instances down).
const RETRY: Duration = Duration::from_secs(1);

/// The pause before another try while no key was ever fetched: at start-up the registry's
/// first listing of the IAM arrives within milliseconds, and tokens are refused until then.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The IAM's keys as last fetched through the registry; empty until the first fetch
/// succeeds (tokens are refused with 401 meanwhile).
#[derive(Debug, Clone)]
pub struct RegistryKeys {
    current: Arc<RwLock<Arc<JwkSet>>>,
}

impl KeySource for RegistryKeys {
    fn jwk_set(&self) -> Arc<JwkSet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl RegistryKeys {
    /// Starts fetching through `iam` now, then every `refresh` (every second until the
    /// first success). The task ends when the last clone of the source is dropped.
    pub fn start(iam: BalancedClient, refresh: Duration) -> Self {
        let current = Arc::new(RwLock::new(Arc::new(JwkSet { keys: Vec::new() })));
        tokio::spawn(keep_fresh(iam, Arc::downgrade(&current), refresh));
        Self { current }
    }
}

async fn keep_fresh(iam: BalancedClient, current: Weak<RwLock<Arc<JwkSet>>>, refresh: Duration) {
    let mut failing = false;
    let mut fetched_once = false;
    loop {
        let pause = match fetch(&iam).await {
            Ok(keys) => {
                let Some(current) = current.upgrade() else {
                    return;
                };
                if failing {
                    tracing::info!(
                        keys = keys.keys.len(),
                        "IAM keys fetched again through the registry"
                    );
                }
                failing = false;
                fetched_once = true;
                *current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                refresh
            }
            Err(error) if !fetched_once => {
                tracing::debug!(%error, "no IAM keys yet; trying again shortly");
                FIRST_RETRY
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "cannot fetch the IAM's keys through the registry; retrying every second");
                }
                failing = true;
                RETRY
            }
        };
        if current.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

/// One fetch of the key set, size-bounded.
async fn fetch(iam: &BalancedClient) -> Result<JwkSet, String> {
    let response = iam
        .get(JWKS_PATH)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the IAM answered {}", response.status()));
    }
    let body = response.bytes().await.map_err(|error| error.to_string())?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("the key set is over {MAX_JWKS_BYTES} bytes"));
    }
    serde_json::from_slice(&body).map_err(|error| format!("not a JWK set: {error}"))
}

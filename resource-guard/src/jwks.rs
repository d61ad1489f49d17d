//! Keys fetched from a JWKS URL: cached, refreshed in the background, refetched (once,
//! rate-limited) for an unknown `kid`, and kept when a refresh fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;

use crate::client::{FetchClient, FetchError, Fetched};
use crate::clock::Clock;
use crate::keys::KeyRing;
use crate::metrics::{FetchResult, JwksMetrics};

/// While no key was ever loaded, a fetch may be retried this often.
const UNLOADED_RETRY: Duration = Duration::from_secs(1);
/// Refreshes are never scheduled further apart than this, whatever `max-age` says; the
/// builder keeps the refetch and refresh intervals within it.
pub(crate) const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// The settings of a [`JwksKeys`].
#[derive(Debug, Clone)]
pub(crate) struct JwksSettings {
    pub(crate) url: reqwest::Url,
    pub(crate) client: FetchClient,
    pub(crate) min_refetch_interval: Duration,
    pub(crate) refresh_interval: Duration,
}

#[derive(Debug, Default)]
struct Published {
    set: JwkSet,
    ring: Arc<KeyRing>,
}

/// The keys of one JWKS URL.
pub(crate) struct JwksKeys {
    settings: JwksSettings,
    clock: Arc<dyn Clock>,
    published: RwLock<Published>,
    loaded: AtomicBool,
    /// Held for the whole of a fetch: concurrent wishes to fetch wait for it instead of
    /// starting their own (single flight).
    fetching: tokio::sync::Mutex<()>,
    last_attempt: Mutex<Option<SystemTime>>,
    /// Called when the published keys change (the guard empties its token cache).
    on_change: Box<dyn Fn() + Send + Sync>,
    metrics: JwksMetrics,
}

impl std::fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeys")
            .field("url", &self.settings.url.as_str())
            .field("loaded", &self.loaded.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl JwksKeys {
    pub(crate) fn new(
        settings: JwksSettings,
        clock: Arc<dyn Clock>,
        on_change: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self {
            settings,
            clock,
            published: RwLock::new(Published::default()),
            loaded: AtomicBool::new(false),
            fetching: tokio::sync::Mutex::new(()),
            last_attempt: Mutex::new(None),
            on_change,
            metrics: JwksMetrics::register(),
        }
    }

    /// The keys as last fetched (empty before the first successful fetch).
    pub(crate) fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(
            &self
                .published
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .ring,
        )
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    fn retry_interval(&self) -> Duration {
        if self.is_loaded() {
            self.settings.min_refetch_interval
        } else {
            self.settings.min_refetch_interval.min(UNLOADED_RETRY)
        }
    }

    /// The wait before background retry number `failures`: doubling from one second
    /// while no key was ever loaded, capped at the refetch interval.
    fn backoff(&self, failures: u32) -> Duration {
        if self.is_loaded() {
            return self.settings.min_refetch_interval;
        }
        UNLOADED_RETRY
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(self.settings.min_refetch_interval)
            .max(UNLOADED_RETRY.min(self.settings.min_refetch_interval))
    }

    /// Whether the rate limit allows a fetch now.
    fn may_fetch(&self) -> bool {
        let last = *self
            .last_attempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match last {
            None => true,
            // A clock that went backwards allows a fetch rather than blocking for long.
            Some(last) => self
                .clock
                .now()
                .duration_since(last)
                .map_or(true, |elapsed| elapsed >= self.retry_interval()),
        }
    }

    /// Fetches again because a token named a `kid` we do not know, unless the rate limit
    /// forbids it or another task is already fetching (then waits for that fetch).
    /// Returns once the keys are as fresh as they are going to get.
    pub(crate) async fn refetch_for_unknown_kid(&self, kid: Option<&str>) {
        if !self.may_fetch() && self.fetching.try_lock().is_ok() {
            return;
        }
        let _flight = self.fetching.lock().await;
        let known = kid.is_some_and(|kid| {
            self.ring()
                .keys
                .iter()
                .any(|k| k.kid.as_deref() == Some(kid))
        });
        if known || !self.may_fetch() {
            return;
        }
        if let Err(error) = self.fetch_locked().await {
            tracing::warn!(url = %self.settings.url, %error, "JWKS refetch failed; keeping the previous keys");
        }
    }

    /// Fetches now (the background refresh), waiting for any fetch in flight.
    /// Returns how long the keys may be cached.
    pub(crate) async fn refresh(&self) -> Result<Duration, FetchError> {
        let _flight = self.fetching.lock().await;
        self.fetch_locked().await
    }

    /// Fetches the key set and publishes it if it changed; counts the fetch in the metrics.
    async fn fetch_locked(&self) -> Result<Duration, FetchError> {
        let result = self.fetch_uncounted().await;
        match &result {
            Ok((_, keys)) => self.metrics.fetched(FetchResult::Ok, Some(*keys)),
            Err(error) => self.metrics.fetched(fetch_result(error), None),
        }
        result.map(|(ttl, _)| ttl)
    }

    /// Fetches and publishes the key set; returns when to fetch again and how many keys
    /// it holds.
    async fn fetch_uncounted(&self) -> Result<(Duration, usize), FetchError> {
        *self
            .last_attempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.clock.now());
        let Fetched { max_age, body } = self.settings.client.fetch(&self.settings.url).await?;
        let set = parse_jwks(&body)?;
        let ring = KeyRing::from_jwk_set(&set, self.settings.url.as_str());
        if ring.is_empty() {
            return Err(FetchError::NoUsableKey);
        }
        let keys = ring.keys.len();
        let changed = {
            let mut published = self
                .published
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let changed = published.set != set;
            if changed {
                *published = Published {
                    set,
                    ring: Arc::new(ring),
                };
            }
            changed
        };
        self.loaded.store(true, Ordering::Release);
        if changed {
            tracing::info!(url = %self.settings.url, "JWKS keys updated");
            (self.on_change)();
        }
        let ttl = max_age.unwrap_or(self.settings.refresh_interval);
        Ok((
            ttl.clamp(self.settings.min_refetch_interval, MAX_REFRESH),
            keys,
        ))
    }

    /// Keeps the keys fresh until the guard is dropped: refreshes at 90 % of their cache
    /// lifetime, retries failures at the refetch interval (stale keys are kept meanwhile).
    pub(crate) fn spawn_refresher(
        this: &Arc<Self>,
        first_delay: Duration,
    ) -> tokio::task::AbortHandle {
        let weak: Weak<Self> = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut delay = first_delay;
            let mut failures: u32 = 0;
            loop {
                tokio::time::sleep(delay).await;
                let Some(keys) = weak.upgrade() else { break };
                delay = match keys.refresh().await {
                    Ok(ttl) => {
                        failures = 0;
                        ttl.mul_f32(0.9)
                    }
                    Err(error) => {
                        tracing::warn!(url = %keys.settings.url, %error, "JWKS refresh failed; keeping the previous keys");
                        failures = failures.saturating_add(1);
                        keys.backoff(failures)
                    }
                };
            }
        })
        .abort_handle()
    }
}

/// Parses a key set, dropping members that are not valid JWKs (one odd key does not
/// take the others down).
fn parse_jwks(body: &[u8]) -> Result<JwkSet, FetchError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(body)?;
    let keys = raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .collect();
    Ok(JwkSet { keys })
}

/// How a failed fetch is counted.
fn fetch_result(error: &FetchError) -> FetchResult {
    match error {
        FetchError::Http(error) if error.is_timeout() => FetchResult::Timeout,
        FetchError::Http(_) => FetchResult::TransportError,
        #[cfg(feature = "rustls")]
        FetchError::Transport(_) => FetchResult::TransportError,
        #[cfg(feature = "rustls")]
        FetchError::TimedOut => FetchResult::Timeout,
        FetchError::Status(_) => FetchResult::BadStatus,
        FetchError::TooLarge | FetchError::Json(_) | FetchError::NoUsableKey => {
            FetchResult::InvalidBody
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_retries_back_off_while_no_key_was_loaded() {
        let keys = JwksKeys::new(
            JwksSettings {
                url: "http://127.0.0.1:1/jwks.json".parse().unwrap(),
                client: FetchClient::Reqwest(reqwest::Client::new()),
                min_refetch_interval: Duration::from_secs(60),
                refresh_interval: Duration::from_secs(300),
            },
            Arc::new(crate::clock::SystemClock),
            Box::new(|| {}),
        );
        let secs = |n| keys.backoff(n).as_secs();
        assert_eq!(
            [secs(1), secs(2), secs(3), secs(7), secs(40)],
            [1, 2, 4, 60, 60]
        );
    }

    #[test]
    fn one_odd_key_does_not_spoil_the_set() {
        let set = parse_jwks(
            br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},"oops",{"kty":"EC","crv":"P-256","x":5}]}"#,
        )
        .unwrap();
        assert_eq!(KeyRing::from_jwk_set(&set, "test").keys.len(), 1);
        assert!(parse_jwks(b"[]").is_err());
    }
}

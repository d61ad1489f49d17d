//! [`OAuthSettings`]: lifetimes, the store, the hash key and the bootstrap client.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::store::OAuthStore;

/// How the OAuth 2.0 endpoints behave. Every setting has a default; see each setter.
///
/// ```
/// use std::time::Duration;
/// use portcullis_iam::{BootstrapClient, MemoryOAuthStore, OAuthSettings};
///
/// let settings = OAuthSettings::default()
///     .store(MemoryOAuthStore::new())
///     .access_token_ttl(Duration::from_secs(600))
///     .hash_key(*b"0123456789abcdef0123456789abcdef")
///     .bootstrap_client(BootstrapClient::new(
///         "movies-cli",
///         "a client secret of at least 32 bytes!!",
///         ["movies:read", "movies:write"],
///     ));
/// ```
pub struct OAuthSettings {
    pub(crate) store: Option<Arc<dyn OAuthStore>>,
    pub(crate) access_token_ttl: Duration,
    pub(crate) refresh_idle_ttl: Duration,
    pub(crate) refresh_absolute_ttl: Duration,
    pub(crate) hash_key: Option<Vec<u8>>,
    pub(crate) bootstrap_client: Option<BootstrapClient>,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) refresh_sweep_interval: Duration,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            store: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_idle_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_absolute_ttl: Duration::from_secs(30 * 24 * 3600),
            hash_key: None,
            bootstrap_client: None,
            scopes_supported: Vec::new(),
            refresh_sweep_interval: Duration::from_secs(10 * 60),
        }
    }
}

impl fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("store", &self.store)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_idle_ttl", &self.refresh_idle_ttl)
            .field("refresh_absolute_ttl", &self.refresh_absolute_ttl)
            .field("hash_key", &self.hash_key.as_ref().map(|_| "<redacted>"))
            .field("bootstrap_client", &self.bootstrap_client)
            .field("scopes_supported", &self.scopes_supported)
            .field("refresh_sweep_interval", &self.refresh_sweep_interval)
            .finish()
    }
}

impl OAuthSettings {
    /// Where clients and refresh tokens are kept. Default is a new [`MemoryOAuthStore`](crate::MemoryOAuthStore):
    /// give every instance of a fleet the same persistent store (`MongoOAuthStore`, feature
    /// `mongodb`) so that each can refresh and revoke what another issued.
    #[must_use]
    pub fn store(mut self, store: impl OAuthStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Like [`store`](Self::store), for a store that is already shared.
    #[must_use]
    pub fn shared_store(mut self, store: Arc<dyn OAuthStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The lifetime of access tokens from `/oauth2/token`, unless a client has its own: 1
    /// second up to the IAM's [`token_ttl`](crate::IamBuilder::token_ttl). Default is 15
    /// minutes: an access token is a JWT that resource services check without asking the
    /// IAM, so it cannot be revoked; a short life bounds what a leaked one is worth, and
    /// clients renew it with a refresh token or their credentials.
    #[must_use]
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// How long a refresh token stays usable without being used (each use rotates it and
    /// starts a new idle period): 1 minute up to the absolute lifetime. Default is 7
    /// days, so a session left alone for a week ends.
    #[must_use]
    pub fn refresh_idle_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_idle_ttl = ttl;
        self
    }

    /// How long a family of refresh tokens lives from its first token, however often it
    /// is rotated: 1 minute to 366 days. Default is 30 days, which bounds a stolen
    /// family's life even when its thief keeps it busy; the user then logs in again.
    #[must_use]
    pub fn refresh_absolute_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_absolute_ttl = ttl;
        self
    }

    /// How often the IAM deletes expired refresh tokens from the store
    /// ([`OAuthStore::delete_expired_refresh_tokens`](crate::OAuthStore::delete_expired_refresh_tokens):
    /// unused tokens past their expiry, and used or revoked ones once their family has
    /// ended), in batches of at most 1000 and at most 100 batches a sweep: 1 second to 1
    /// day. Default is 10 minutes. It runs on every store, so that expired tokens go also
    /// where the server has no TTL indexes; on `MongoDB` the TTL indexes usually leave
    /// it nothing to do.
    #[must_use]
    pub fn refresh_sweep_interval(mut self, interval: Duration) -> Self {
        self.refresh_sweep_interval = interval;
        self
    }

    /// The key of the keyed hash (HMAC-SHA-256) that client secrets and refresh tokens are
    /// stored as: at least 32 bytes, the same on every instance that shares the store.
    /// Default is a random key per process, with a warning when the store is persistent:
    /// secrets and tokens hashed with it cannot be checked after a restart or by another
    /// instance.
    #[must_use]
    pub fn hash_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.hash_key = Some(key.as_ref().to_vec());
        self
    }

    /// A client registered (or replaced) at start-up with this id, secret and scopes and
    /// every grant type, for examples and first deployments. Default is none.
    #[must_use]
    pub fn bootstrap_client(mut self, client: BootstrapClient) -> Self {
        self.bootstrap_client = Some(client);
        self
    }

    /// The scopes the metadata's `scopes_supported` lists, beside the bootstrap client's.
    /// Default is none (the field is then left out, as RFC 8414 section 2 allows).
    #[must_use]
    pub fn scopes_supported(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// A client registered at start-up: see [`OAuthSettings::bootstrap_client`]. Its secret
/// must have at least 32 bytes. `Debug` never shows the secret.
#[derive(Clone)]
pub struct BootstrapClient {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) scopes: Vec<String>,
}

impl BootstrapClient {
    /// A client with this id, secret and allowed scopes.
    pub fn new(
        id: impl Into<String>,
        secret: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }
}

impl fmt::Debug for BootstrapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapClient")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

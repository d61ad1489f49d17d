//! OAuth 2.0 on top of the IAM's users and keys: the token endpoint (RFC 6749) with the
//! `client_credentials`, `password` and `refresh_token` grants, revocation (RFC 7009),
//! introspection (RFC 7662), server metadata (RFC 8414), and registered clients.
//!
//! Access tokens are the IAM's JWTs (`typ: at+jwt`) with `client_id` and `scope` added
//! (RFC 9068 section 2.2), so resource services verify them through the JWKS as before.
//! Refresh tokens are opaque 256-bit values, stored only as a keyed hash, bound to their
//! client, rotated on every use; a reused one revokes its whole family.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use portcullis_resource_guard::Clock;

use crate::ConfigError;
use crate::iam::Iam;
use crate::throttle::{LoginThrottle, ThrottlePolicy};

mod admin;
pub(crate) mod client_auth;
mod clients;
mod errors;
mod form;
mod grant_client_credentials;
mod grant_password;
mod grant_refresh;
mod introspect;
mod metadata;
mod refresh;
mod revoke;
pub(crate) mod scope;
mod secrets;
mod settings;
mod store;
mod sweep;
mod token_endpoint;

#[cfg(feature = "openapi")]
pub(crate) use admin::{
    __path_create_client, __path_disable_client, __path_list_clients, __path_rotate_secret,
};
pub(crate) use admin::{create_client, disable_client, list_clients, rotate_secret};
pub use clients::{ClientSecret, NewClient};
#[cfg(feature = "openapi")]
pub(crate) use introspect::__path_introspect;
pub use introspect::Introspection;
pub(crate) use introspect::introspect;
#[cfg(feature = "openapi")]
pub(crate) use metadata::{__path_authorization_server, __path_openid_configuration};
pub(crate) use metadata::{authorization_server, openid_configuration};
#[cfg(feature = "openapi")]
pub(crate) use revoke::__path_revoke;
pub(crate) use revoke::revoke;
pub use settings::{BootstrapClient, OAuthSettings};
#[cfg(feature = "mongodb")]
pub use store::MongoOAuthStore;
pub use store::{
    ClientUpdate, ClientView, GrantType, MemoryOAuthStore, OAuthClient, OAuthStore,
    RefreshTokenRecord, RefreshTokenState,
};
#[cfg(feature = "openapi")]
pub(crate) use token_endpoint::__path_token;
pub use token_endpoint::OAuthTokenResponse;
pub(crate) use token_endpoint::token;

/// The token endpoint (RFC 6749 section 3.2).
pub const TOKEN_PATH: &str = "/oauth2/token";
/// The revocation endpoint (RFC 7009).
pub const REVOCATION_PATH: &str = "/oauth2/revoke";
/// The introspection endpoint (RFC 7662).
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";
/// The authorization server metadata (RFC 8414 section 3).
pub const AUTHORIZATION_SERVER_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// The same metadata where `OpenID` Connect Discovery looks for it.
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";

/// The longest refresh-token lifetime accepted.
const MAX_REFRESH_TTL: Duration = Duration::from_secs(366 * 24 * 3600);
/// The longest interval between two sweeps of expired refresh tokens.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The OAuth part of a built IAM.
#[derive(Debug)]
pub(crate) struct OAuthState {
    pub(crate) store: Arc<dyn store::OAuthStore>,
    pub(crate) secrets: secrets::SecretHasher,
    /// Failed client authentications, per client id and per address.
    pub(crate) client_throttle: Arc<LoginThrottle>,
    pub(crate) access_token_ttl: Duration,
    pub(crate) refresh_idle_ttl: Duration,
    pub(crate) refresh_absolute_ttl: Duration,
    pub(crate) metadata: Option<Arc<metadata::Metadata>>,
    /// Deletes expired refresh tokens from the store; stops when this state is dropped.
    _sweeper: sweep::Sweeper,
}

impl OAuthState {
    /// Checks `settings` against the IAM's token lifetime and builds the state.
    pub(crate) fn build(
        settings: &OAuthSettings,
        issuer: &str,
        token_ttl: Duration,
        throttle: &ThrottlePolicy,
        clock: &Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let ttl = settings.access_token_ttl;
        if ttl < Duration::from_secs(1) || ttl > token_ttl {
            return Err(ConfigError::Invalid(format!(
                "the OAuth access-token lifetime is {ttl:?}; it must be 1 second up to the \
                 token lifetime ({token_ttl:?})"
            )));
        }
        let (idle, absolute) = (settings.refresh_idle_ttl, settings.refresh_absolute_ttl);
        if absolute < Duration::from_secs(60) || absolute > MAX_REFRESH_TTL {
            return Err(ConfigError::Invalid(format!(
                "the refresh-token absolute lifetime is {absolute:?}; it must be 1 minute to 366 days"
            )));
        }
        if idle < Duration::from_secs(60) || idle > absolute {
            return Err(ConfigError::Invalid(format!(
                "the refresh-token idle lifetime is {idle:?}; it must be 1 minute up to the \
                 absolute lifetime ({absolute:?})"
            )));
        }
        let sweep_every = settings.refresh_sweep_interval;
        if sweep_every < Duration::from_secs(1) || sweep_every > MAX_SWEEP_INTERVAL {
            return Err(ConfigError::Invalid(format!(
                "the refresh-token sweep interval is {sweep_every:?}; it must be 1 second to 1 day"
            )));
        }
        let store = settings
            .store
            .clone()
            .unwrap_or_else(|| Arc::new(store::MemoryOAuthStore::new()));
        let key = if let Some(key) = &settings.hash_key {
            key.clone()
        } else {
            if store.is_persistent() {
                tracing::warn!(
                    "no OAuth hash key configured: generated one for this process. Client \
                     secrets and refresh tokens stored now cannot be checked after a \
                     restart or by another instance; configure a shared hash key"
                );
            }
            secrets::SecretHasher::random_key()?
        };
        let mut scopes = settings.scopes_supported.clone();
        if let Some(bootstrap) = &settings.bootstrap_client {
            for scope in &bootstrap.scopes {
                if !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
        }
        let metadata = metadata::Metadata::for_issuer(issuer, scopes);
        if metadata.is_none() {
            tracing::info!(
                issuer,
                "the issuer is not an http(s) URL: OAuth server metadata is not served"
            );
        }
        Ok(Self {
            store: Arc::clone(&store),
            secrets: secrets::SecretHasher::new(key)?,
            client_throttle: Arc::new(LoginThrottle::new(throttle.clone())?),
            access_token_ttl: ttl,
            refresh_idle_ttl: idle,
            refresh_absolute_ttl: absolute,
            metadata,
            _sweeper: sweep::Sweeper::start(store, Arc::clone(clock), sweep_every),
        })
    }
}

impl Iam {
    /// Registers (or replaces) the bootstrap client: every grant type, the given scopes,
    /// the given secret.
    pub(crate) async fn register_bootstrap_client(
        &self,
        bootstrap: &BootstrapClient,
    ) -> Result<(), ConfigError> {
        if !client_auth::is_valid_client_id(&bootstrap.id) {
            return Err(ConfigError::Invalid(
                "the bootstrap client id must be 1 to 64 of A-Z a-z 0-9 . _ ~ -".to_owned(),
            ));
        }
        if bootstrap.secret.len() < secrets::MIN_HASH_KEY_BYTES {
            return Err(ConfigError::Invalid(format!(
                "the bootstrap client secret must have at least {} bytes",
                secrets::MIN_HASH_KEY_BYTES
            )));
        }
        if !bootstrap.scopes.iter().all(|s| scope::is_scope_token(s)) {
            return Err(ConfigError::Invalid(
                "the bootstrap client's scopes must be RFC 6749 scope tokens".to_owned(),
            ));
        }
        let client = OAuthClient {
            id: bootstrap.id.clone(),
            name: bootstrap.id.clone(),
            secret_hash: self.client_secret_hash(&bootstrap.id, &bootstrap.secret),
            scopes: bootstrap.scopes.clone(),
            grant_types: GrantType::ALL.to_vec(),
            access_token_ttl: None,
            disabled: false,
            created_at: self.inner.tokens.clock.unix_seconds(),
        };
        self.inner.oauth.store.put_client(client).await?;
        tracing::info!(client_id = %bootstrap.id, "registered the bootstrap OAuth client");
        Ok(())
    }
}

/// The throttle's key for the client address of `request` (see
/// [`ThrottlePolicy::trusted_proxies`]).
pub(crate) fn request_address(iam: &Iam, request: &Request) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    iam.inner
        .throttle
        .policy()
        .client_bucket(request.headers(), peer)
}

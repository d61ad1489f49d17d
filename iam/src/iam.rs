//! [`Iam`] and its builder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use portcullis_resource_guard::{Clock, Guard, SystemClock};

use crate::bootstrap::AdminBootstrap;
use crate::keys::{KeyRing, SigningKey};
use crate::oauth::{OAuthSettings, OAuthState};
use crate::password::{PasswordPolicy, Passwords};
use crate::store::{MemoryUserStore, User, UserStore};
use crate::throttle::{LoginThrottle, ThrottlePolicy};
use crate::token::{IssuedToken, TokenIssuer};
use crate::{ConfigError, IamError};

/// The token issuer: users, passwords, keys, login throttling and the routes. Cheap to
/// clone (shared state).
#[derive(Debug, Clone)]
pub struct Iam {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn UserStore>,
    pub(crate) passwords: Passwords,
    pub(crate) tokens: TokenIssuer,
    pub(crate) throttle: Arc<LoginThrottle>,
    pub(crate) guard: Guard,
    pub(crate) base_path: String,
    pub(crate) leeway: Duration,
    pub(crate) oauth: OAuthState,
}

/// The longest token lifetime [`IamBuilder::token_ttl`] accepts.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(366 * 24 * 3600);
/// The largest leeway [`IamBuilder::leeway`] accepts.
const MAX_LEEWAY: Duration = Duration::from_secs(24 * 3600);

/// Where the signing key comes from.
#[derive(Debug, Clone)]
enum KeyChoice {
    Key(SigningKey),
    File(PathBuf),
    Env(String),
}

/// Configures an [`Iam`]. Every setting has a default; see each setter.
pub struct IamBuilder {
    issuer: String,
    audience: Option<String>,
    store: Option<Arc<dyn UserStore>>,
    keys: Vec<KeyChoice>,
    previous_keys: Vec<SigningKey>,
    token_ttl: Duration,
    leeway: Duration,
    password_policy: PasswordPolicy,
    throttle: ThrottlePolicy,
    bootstrap: AdminBootstrap,
    base_path: String,
    oauth: OAuthSettings,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for IamBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("store", &self.store)
            .field("keys", &self.keys)
            .field("token_ttl", &self.token_ttl)
            .field("leeway", &self.leeway)
            .field("password_policy", &self.password_policy)
            .field("throttle", &self.throttle)
            .field("bootstrap", &self.bootstrap)
            .field("base_path", &self.base_path)
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl Default for IamBuilder {
    fn default() -> Self {
        Self {
            issuer: "portcullis".to_owned(),
            audience: None,
            store: None,
            keys: Vec::new(),
            previous_keys: Vec::new(),
            token_ttl: Duration::from_secs(3600),
            leeway: Duration::from_secs(60),
            password_policy: PasswordPolicy::default(),
            throttle: ThrottlePolicy::default(),
            bootstrap: AdminBootstrap::default(),
            base_path: "/api/v1".to_owned(),
            oauth: OAuthSettings::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl IamBuilder {
    /// The `iss` claim. Default is `"portcullis"` (the original go-microservices project
    /// used `"seedotech"`).
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The `aud` claim. Default is the issuer.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Where users are kept. Default is a new [`MemoryUserStore`].
    #[must_use]
    pub fn store(mut self, store: impl UserStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Like [`store`](Self::store), for a store that is already shared.
    #[must_use]
    pub fn shared_store(mut self, store: Arc<dyn UserStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The key that signs tokens. Default: the first of the configured
    /// [`signing_key_file`](Self::signing_key_file) / [`signing_key_env`](Self::signing_key_env)
    /// sources that yields a key, else a fresh Ed25519 key (logged as a warning: other
    /// instances cannot share it and tokens do not survive a restart).
    #[must_use]
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.keys.insert(0, KeyChoice::Key(key));
        self
    }

    /// Loads the signing key from a PEM or JWK file. Default is none. A file that is
    /// configured but unreadable or invalid fails [`build`](Self::build).
    #[must_use]
    pub fn signing_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys.push(KeyChoice::File(path.into()));
        self
    }

    /// Loads the signing key (PEM or JWK text) from an environment variable, if it is
    /// set. Default is none.
    #[must_use]
    pub fn signing_key_env(mut self, name: impl Into<String>) -> Self {
        self.keys.push(KeyChoice::Env(name.into()));
        self
    }

    /// A former signing key whose public half stays in the JWKS for the token lifetime
    /// plus leeway after start-up, so tokens it signed before a restart stay valid.
    /// Default is none.
    #[must_use]
    pub fn previous_key(mut self, key: SigningKey) -> Self {
        self.previous_keys.push(key);
        self
    }

    /// How long tokens are valid: 1 second to 366 days. Default is 1 hour.
    #[must_use]
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Clock skew tolerated when the IAM checks tokens for its own routes, and the extra
    /// time a rotated-out key stays published: at most 1 day. Default is 60 seconds.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Password hashing parameters and rules. Default is [`PasswordPolicy::owasp`].
    #[must_use]
    pub fn password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.password_policy = policy;
        self
    }

    /// Failed-login limits and trusted proxies. Default is [`ThrottlePolicy::default`] (5
    /// per name, 20 per address, in 15 minutes; no trusted proxy).
    #[must_use]
    pub fn throttle(mut self, policy: ThrottlePolicy) -> Self {
        self.throttle = policy;
        self
    }

    /// How the first admin user is made. Default is [`AdminBootstrap::Auto`]: a random
    /// password printed once, never a known one.
    #[must_use]
    pub fn admin_bootstrap(mut self, bootstrap: AdminBootstrap) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// The prefix of the login and user routes. Default is `"/api/v1"`.
    #[must_use]
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        path.into()
            .trim_end_matches('/')
            .clone_into(&mut self.base_path);
        self
    }

    /// The OAuth 2.0 endpoints' settings: lifetimes, the client and refresh-token store,
    /// the hash key, a bootstrap client. Default is [`OAuthSettings::default`] (15-minute
    /// access tokens, refresh tokens idle 7 days and absolute 30 days, an in-memory
    /// store, no client).
    #[must_use]
    pub fn oauth(mut self, settings: OAuthSettings) -> Self {
        self.oauth = settings;
        self
    }

    /// Where "now" comes from for issued tokens, refresh-token lifetimes and the IAM's own
    /// token checks. Default is [`SystemClock`]; tests inject their own.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn resolve_key(&self) -> Result<SigningKey, ConfigError> {
        for choice in &self.keys {
            match choice {
                KeyChoice::Key(key) => return Ok(key.clone()),
                KeyChoice::File(path) => return SigningKey::from_file(path),
                KeyChoice::Env(name) => {
                    if let Some(key) = SigningKey::from_env(name)? {
                        return Ok(key);
                    }
                }
            }
        }
        let key = SigningKey::generate_ed25519();
        tracing::warn!(
            kid = key.kid(),
            "no signing key configured: generated a new Ed25519 key. Tokens will not \
             survive a restart, and other instances sign with their own keys; configure \
             a key file to share one"
        );
        Ok(key)
    }

    /// Checks the settings that the setters cannot.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.token_ttl < Duration::from_secs(1) || self.token_ttl > MAX_TOKEN_TTL {
            return Err(ConfigError::Invalid(format!(
                "the token lifetime is {:?}; it must be 1 second to 366 days",
                self.token_ttl
            )));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::Invalid(format!(
                "the leeway is {:?}; it must be at most 1 day",
                self.leeway
            )));
        }
        Ok(())
    }

    /// Checks the configuration, loads or generates the key, and runs the admin bootstrap.
    /// Any setting out of range, an unusable key or admin password, or a store that fails
    /// during the bootstrap is a [`ConfigError`], never a panic.
    pub async fn build(self) -> Result<Iam, ConfigError> {
        self.validate()?;
        crate::metrics::describe();
        let throttle = LoginThrottle::new(self.throttle.clone())?;
        let key = self.resolve_key()?;
        let keys = KeyRing::new(key.clone());
        let keep_for = self.token_ttl + self.leeway;
        for previous in &self.previous_keys {
            keys.keep_previous(previous, keep_for);
        }
        let audience = self.audience.unwrap_or_else(|| self.issuer.clone());
        let oauth = OAuthState::build(
            &self.oauth,
            &self.issuer,
            self.token_ttl,
            &self.throttle,
            &self.clock,
        )?;
        let clock = Arc::clone(&self.clock);
        let guard = build_guard(
            &self.issuer,
            &audience,
            self.leeway,
            &key,
            &keys,
            move || clock.now(),
        )
        .await?;
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryUserStore::new()));
        let passwords = Passwords::new(self.password_policy).await?;
        self.bootstrap.run(store.as_ref(), &passwords).await?;
        let iam = Iam {
            inner: Arc::new(Inner {
                store,
                passwords,
                tokens: TokenIssuer {
                    keys,
                    issuer: self.issuer,
                    audience,
                    ttl: self.token_ttl,
                    clock: self.clock,
                },
                throttle: Arc::new(throttle),
                guard,
                base_path: self.base_path,
                leeway: self.leeway,
                oauth,
            }),
        };
        if let Some(bootstrap) = &self.oauth.bootstrap_client {
            iam.register_bootstrap_client(bootstrap).await?;
        }
        Ok(iam)
    }
}

async fn build_guard(
    issuer: &str,
    audience: &str,
    leeway: Duration,
    key: &SigningKey,
    keys: &KeyRing,
    clock: impl Clock,
) -> Result<Guard, ConfigError> {
    let builder = Guard::builder()
        .clock(clock)
        .issuer(issuer)
        .audience(audience)
        .leeway(leeway);
    let builder = match key.hmac_secret() {
        // The secret's length was checked when the `SigningKey` was made (or its check
        // was waived there, loudly); the guard need not refuse what the IAM already took.
        Some(secret) => builder
            .hmac_secret(secret)
            .dangerous_allow_short_hmac_secret(),
        None => builder.key_source(keys.clone()),
    };
    builder
        .build()
        .await
        .map_err(|e| ConfigError::Guard(Box::new(e)))
}

impl Iam {
    /// A builder with every default.
    pub fn builder() -> IamBuilder {
        IamBuilder::default()
    }

    /// The user store.
    pub fn store(&self) -> &Arc<dyn UserStore> {
        &self.inner.store
    }

    /// The password hasher (also for creating users outside the routes).
    pub fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    /// The key ring (current signing key and published public keys).
    pub fn keys(&self) -> &KeyRing {
        &self.inner.tokens.keys
    }

    /// The guard that checks tokens on the IAM's own routes; resource services in the same
    /// process may share it.
    pub fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// The `iss` claim of issued tokens.
    pub fn issuer(&self) -> &str {
        &self.inner.tokens.issuer
    }

    /// The `aud` claim of issued tokens.
    pub fn audience(&self) -> &str {
        &self.inner.tokens.audience
    }

    /// Signs a token for `user` (no password check: the caller vouches for the user).
    pub fn issue_token(&self, user: &User) -> Result<IssuedToken, IamError> {
        self.inner.tokens.issue(user)
    }

    /// Makes `next` the signing key; the former key stays in the JWKS for the token
    /// lifetime plus leeway, so tokens it signed stay valid until they expire. Only
    /// Ed25519 keys rotate (an HS256 deployment has nothing to publish); another key is a
    /// [`ConfigError::Key`].
    pub fn rotate_key(&self, next: SigningKey) -> Result<(), ConfigError> {
        if next.algorithm() != Algorithm::EdDSA
            || self.keys().current().algorithm() != Algorithm::EdDSA
        {
            return Err(ConfigError::Key(
                "only Ed25519 keys can be rotated".to_owned(),
            ));
        }
        let keep_for = self.inner.tokens.ttl + self.inner.leeway;
        self.keys().rotate(next, keep_for);
        tracing::info!(kid = self.keys().current().kid(), "rotated the signing key");
        Ok(())
    }

    /// Checks that the store is reachable, for readiness probes.
    pub async fn ready(&self) -> Result<(), IamError> {
        self.inner.store.check().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PasswordPolicy;

    fn quick() -> IamBuilder {
        Iam::builder()
            .password_policy(PasswordPolicy::insecure_fast_for_tests())
            .admin_bootstrap(AdminBootstrap::Disabled)
    }

    #[tokio::test]
    async fn out_of_range_settings_fail_the_build_instead_of_panicking() {
        let builders = [
            quick().token_ttl(Duration::ZERO),
            quick().token_ttl(Duration::MAX),
            quick().leeway(Duration::MAX),
            quick().throttle(ThrottlePolicy::default().window(Duration::MAX)),
            quick().throttle(ThrottlePolicy::default().max_failures_per_name(0)),
            quick().password_policy(PasswordPolicy::insecure_fast_for_tests().max_concurrent(0)),
        ];
        for builder in builders {
            let described = format!("{builder:?}");
            let err = builder.build().await.expect_err(&described);
            assert!(matches!(err, ConfigError::Invalid(_)), "{described}: {err}");
        }
    }
}

//! [`GuardBuilder`]: the configuration of a [`Guard`], checked once at build.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;

use crate::build_error::GuardBuildError;
use crate::cache::TokenCache;
use crate::client::{self, ClientSettings, JwksClient};
use crate::clock::{Clock, SystemClock};
use crate::guard::{Guard, Inner};
use crate::header::TypPolicy;
use crate::jwks::{JwksKeys, JwksSettings, MAX_REFRESH};
use crate::keys::{KeyRing, KeySource, PendingKey, SourceKeys};
use crate::metrics::{GuardMetrics, KeyOrigin};
use crate::validation::ClaimRules;

const LEEWAY: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(3600);
const TOKEN_SIZE: RangeInclusive<usize> = 64..=1024 * 1024;
const FETCH_TIMEOUT: RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(300);
const JWKS_INTERVAL: RangeInclusive<Duration> = Duration::from_secs(1)..=MAX_REFRESH;
const CACHE_CAPACITY: RangeInclusive<usize> = 0..=10_000_000;

/// Configures a [`Guard`].
///
/// ```
/// use std::time::Duration;
/// use portcullis_resource_guard::Guard;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), portcullis_resource_guard::GuardBuildError> {
/// let guard = Guard::builder()
///     .issuer("seedotech")
///     .audience("movies")
///     .leeway(Duration::from_secs(30))
///     .hmac_secret(b"a shared secret of at least 32 bytes!")
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct GuardBuilder {
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    max_token_size: usize,
    typ_policy: TypPolicy,
    realm: Option<String>,
    keys: Vec<PendingKey>,
    jwks_url: Option<String>,
    key_source: Option<Arc<dyn KeySource>>,
    http_client: Option<reqwest::Client>,
    fetch_timeout: Duration,
    min_refetch_interval: Duration,
    refresh_interval: Duration,
    cache_capacity: usize,
    clock: Arc<dyn Clock>,
    tls_roots: Vec<Vec<u8>>,
    allow_insecure_http: bool,
    allow_short_hmac_secret: bool,
}

impl Default for GuardBuilder {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(60),
            max_token_size: 8 * 1024,
            typ_policy: TypPolicy::Lenient,
            realm: None,
            keys: Vec::new(),
            jwks_url: None,
            key_source: None,
            http_client: None,
            fetch_timeout: Duration::from_secs(5),
            min_refetch_interval: Duration::from_secs(60),
            refresh_interval: Duration::from_secs(300),
            cache_capacity: 10_000,
            clock: Arc::new(SystemClock),
            tls_roots: Vec::new(),
            allow_insecure_http: false,
            allow_short_hmac_secret: false,
        }
    }
}

impl fmt::Debug for GuardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("max_token_size", &self.max_token_size)
            .field("typ_policy", &self.typ_policy)
            .field("keys", &self.keys)
            .field("jwks_url", &self.jwks_url)
            .field("key_source", &self.key_source)
            .field("cache_capacity", &self.cache_capacity)
            .field("tls_roots", &self.tls_roots.len())
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("allow_short_hmac_secret", &self.allow_short_hmac_secret)
            .finish_non_exhaustive()
    }
}

impl GuardBuilder {
    /// The exact `iss` every token must carry. Required.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The audience every token's `aud` must name. Default is none: then a token that
    /// names any audience is rejected (RFC 7519 section 4.1.3).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat`, at most an hour. Default is 60 seconds.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The longest token accepted, checked before any parsing: 64 bytes to 1 MiB. Default
    /// is 8 KiB.
    #[must_use]
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Which `typ` headers are accepted. Default is [`TypPolicy::Lenient`].
    #[must_use]
    pub fn typ_policy(mut self, policy: TypPolicy) -> Self {
        self.typ_policy = policy;
        self
    }

    /// A `realm` for the `WWW-Authenticate` challenges: printable ASCII without `"` or
    /// `\`. Default is none.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Trusts an HMAC secret for HS256 (a secret shared with the token issuer). Default
    /// is no secret. Anyone holding the secret can mint tokens: prefer public keys.
    ///
    /// The secret must be at least as long as the hash (RFC 7518 section 3.2): 32 bytes
    /// for HS256, 48 for HS384, 64 for HS512; a shorter one fails
    /// [`build`](Self::build) with [`GuardBuildError::ShortHmacSecret`], since anyone
    /// holding one token can search for a short secret offline and then mint their own.
    /// Tests that must accept a known short secret use
    /// [`dangerous_allow_short_hmac_secret`](Self::dangerous_allow_short_hmac_secret).
    #[must_use]
    pub fn hmac_secret(self, secret: impl AsRef<[u8]>) -> Self {
        self.hmac_secret_with(Algorithm::HS256, secret)
    }

    /// Trusts an HMAC secret for `alg` (HS256, HS384 or HS512), at least as long as the
    /// hash (see [`hmac_secret`](Self::hmac_secret)). Default is no secret.
    #[must_use]
    pub fn hmac_secret_with(mut self, alg: Algorithm, secret: impl AsRef<[u8]>) -> Self {
        self.keys
            .push(PendingKey::Hmac(alg, secret.as_ref().to_vec()));
        self
    }

    /// Trusts a PEM public key (SPKI `PUBLIC KEY`, or `RSA PUBLIC KEY`) for `alg`:
    /// RS256/384/512, PS256/384/512, ES256/384 or `EdDSA`. It matches tokens without a
    /// `kid` or with one no other key claims. Default is no key.
    #[must_use]
    pub fn public_key_pem(mut self, alg: Algorithm, pem: impl AsRef<[u8]>) -> Self {
        self.keys
            .push(PendingKey::Pem(alg, pem.as_ref().to_vec(), None));
        self
    }

    /// Like [`public_key_pem`](Self::public_key_pem), for tokens whose `kid` is `kid`.
    #[must_use]
    pub fn public_key_pem_with_kid(
        mut self,
        alg: Algorithm,
        pem: impl AsRef<[u8]>,
        kid: impl Into<String>,
    ) -> Self {
        self.keys.push(PendingKey::Pem(
            alg,
            pem.as_ref().to_vec(),
            Some(kid.into()),
        ));
        self
    }

    /// Trusts a JWK; its algorithm is its `alg`, or follows from its key type. Default
    /// is no key.
    #[must_use]
    pub fn jwk(mut self, jwk: Jwk) -> Self {
        self.keys.push(PendingKey::Jwk(Box::new(jwk)));
        self
    }

    /// Trusts the keys published at a JWKS URL. Default is none.
    ///
    /// `https://` needs the `rustls` feature (rustls on `ring`, trusting the platform's
    /// CA roots and those of [`tls_root_certificate`](Self::tls_root_certificate)).
    /// Plain `http://` is accepted only to a loopback host (`localhost`, 127.0.0.0/8,
    /// `::1`): elsewhere anyone on the path could swap the keys, so
    /// [`build`](Self::build) fails with [`GuardBuildError::InsecureHttp`] unless
    /// [`allow_insecure_http`](Self::allow_insecure_http) is set. An unreachable URL does
    /// not fail `build`: keys are fetched again in the background and on demand.
    #[must_use]
    pub fn jwks_url(mut self, url: impl AsRef<str>) -> Self {
        self.jwks_url = Some(url.as_ref().to_owned());
        self
    }

    /// Trusts the keys of an in-process [`KeySource`] (the IAM's key ring). Default is none.
    #[must_use]
    pub fn key_source(mut self, source: impl KeySource) -> Self {
        self.key_source = Some(Arc::new(source));
        self
    }

    /// Like [`key_source`](Self::key_source), for a source already in an `Arc`.
    #[must_use]
    pub fn key_source_arc(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key_source = Some(source);
        self
    }

    /// The HTTP client for the JWKS URL, used as given for `http://` and `https://` alike
    /// (its TLS is then the application's business). Default is a new client with the
    /// fetch timeout: reqwest for `http://`, rustls on `ring` for `https://`.
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The timeout of one JWKS fetch (for the default client), more than zero and at most
    /// 5 minutes. Default is 5 seconds.
    #[must_use]
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The least time between two JWKS fetches caused by unknown `kid`s, and the retry
    /// interval after a failed refresh: 1 second to 24 hours. Default is 60 seconds.
    #[must_use]
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// How long fetched keys are used before a background refresh when the JWKS response
    /// has no `Cache-Control: max-age`: 1 second to 24 hours (a `max-age` is kept within
    /// the refetch interval and 24 hours). Default is 5 minutes.
    #[must_use]
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// How many verified tokens are remembered (repeats skip signature checks); 0
    /// disables the cache; at most 10 million. Default is 10 000.
    #[must_use]
    pub fn cache_capacity(mut self, tokens: usize) -> Self {
        self.cache_capacity = tokens;
        self
    }

    /// Also trusts this root certificate (DER) for an `https://` JWKS URL, beside the
    /// platform's roots: for an IAM whose certificate comes from a private CA. May be
    /// called more than once. Used by the default client only (not with
    /// [`http_client`](Self::http_client)); needs the `rustls` feature to matter. Default
    /// is none.
    #[must_use]
    pub fn tls_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls_roots.push(der.into());
        self
    }

    /// Accepts a plain `http://` JWKS URL to a host that is not loopback. Default is off.
    ///
    /// Without TLS, anyone on the path between this service and the key server can
    /// replace the keys and then mint tokens this guard accepts. Use it only on a
    /// network where that cannot happen (a private link, a service mesh that encrypts).
    #[must_use]
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_insecure_http = true;
        self
    }

    /// Accepts HMAC secrets shorter than their hash (see [`hmac_secret`](Self::hmac_secret)).
    /// Default is off. Meant for tests with a fixed short secret: with it, tokens can be
    /// forged by anyone who guesses the secret. A warning is logged at build.
    #[must_use]
    pub fn dangerous_allow_short_hmac_secret(mut self) -> Self {
        self.allow_short_hmac_secret = true;
        self
    }

    /// Where "now" comes from. Default is [`SystemClock`].
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration, converts the keys and, with a JWKS URL, makes a first
    /// fetch (whose failure is logged, not returned) and starts the background refresh.
    ///
    /// Every mistake is a [`GuardBuildError`], never a panic: a missing issuer or key, a
    /// short HMAC secret, a value out of its documented range, an insecure or invalid
    /// JWKS URL, or (with a JWKS URL) no tokio runtime. An `https://` URL without an
    /// [`http_client`](Self::http_client) fails here if there is no CA certificate to
    /// trust (install `ca-certificates` in slim images, or add a
    /// [`tls_root_certificate`](Self::tls_root_certificate)).
    pub async fn build(self) -> Result<Guard, GuardBuildError> {
        let issuer = self
            .issuer
            .filter(|i| !i.is_empty())
            .ok_or(GuardBuildError::MissingIssuer)?;
        if self.audience.as_deref() == Some("") {
            return Err(GuardBuildError::EmptyAudience);
        }
        if self.keys.is_empty() && self.jwks_url.is_none() && self.key_source.is_none() {
            return Err(GuardBuildError::NoKey);
        }
        duration_in("leeway", self.leeway, &LEEWAY, "at most an hour")?;
        count_in(
            "max_token_size",
            self.max_token_size,
            &TOKEN_SIZE,
            "64 bytes to 1 MiB",
        )?;
        count_in(
            "cache_capacity",
            self.cache_capacity,
            &CACHE_CAPACITY,
            "at most 10 million",
        )?;
        if self.realm.as_deref().is_some_and(|realm| {
            !realm
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        }) {
            return Err(GuardBuildError::InvalidRealm);
        }
        let allow_short = self.allow_short_hmac_secret;
        let static_keys = KeyRing {
            keys: self
                .keys
                .into_iter()
                .map(|key| key.convert(allow_short))
                .collect::<Result<_, _>>()?,
        };
        let generation = Arc::new(AtomicU64::new(0));
        let mut refresher = None;
        let jwks = match self.jwks_url {
            None => None,
            Some(url) => {
                duration_in(
                    "fetch_timeout",
                    self.fetch_timeout,
                    &FETCH_TIMEOUT,
                    "more than zero and at most 5 minutes",
                )?;
                duration_in(
                    "min_refetch_interval",
                    self.min_refetch_interval,
                    &JWKS_INTERVAL,
                    "1 second to 24 hours",
                )?;
                duration_in(
                    "refresh_interval",
                    self.refresh_interval,
                    &JWKS_INTERVAL,
                    "1 second to 24 hours",
                )?;
                let url = client::check_url(&url, self.allow_insecure_http)?;
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(GuardBuildError::NoRuntime);
                }
                let client = JwksClient::new(
                    &url,
                    ClientSettings {
                        custom: self.http_client,
                        timeout: self.fetch_timeout,
                        roots: self.tls_roots,
                    },
                )?;
                let on_change_generation = Arc::clone(&generation);
                let jwks = Arc::new(JwksKeys::new(
                    JwksSettings {
                        url,
                        client,
                        min_refetch_interval: self.min_refetch_interval,
                        refresh_interval: self.refresh_interval,
                    },
                    Arc::clone(&self.clock),
                    Box::new(move || {
                        on_change_generation.fetch_add(1, Ordering::AcqRel);
                    }),
                ));
                let first_delay = match jwks.refresh().await {
                    Ok(ttl) => ttl.mul_f32(0.9),
                    Err(error) => {
                        tracing::warn!(%error, "first JWKS fetch failed; retrying in the background");
                        self.min_refetch_interval.min(Duration::from_secs(1))
                    }
                };
                refresher = Some(JwksKeys::spawn_refresher(&jwks, first_delay));
                Some(jwks)
            }
        };
        let source = self.key_source.map(SourceKeys::new);
        let metrics = GuardMetrics::register();
        metrics.keys(KeyOrigin::Static, static_keys.keys.len());
        if let Some(source) = &source {
            metrics.keys(KeyOrigin::KeySource, source.ring().0.keys.len());
        }
        let cache = (self.cache_capacity > 0).then(|| TokenCache::new(self.cache_capacity));
        Ok(Guard::from_inner(Inner {
            rules: ClaimRules {
                issuer,
                audience: self.audience,
                leeway: self.leeway.as_secs(),
            },
            max_token_size: self.max_token_size,
            typ_policy: self.typ_policy,
            realm: self.realm,
            static_keys,
            jwks,
            source,
            cache,
            generation,
            clock: self.clock,
            refresher,
            metrics,
        }))
    }
}

fn duration_in(
    setting: &'static str,
    value: Duration,
    range: &RangeInclusive<Duration>,
    allowed: &'static str,
) -> Result<(), GuardBuildError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(GuardBuildError::OutOfRange {
            setting,
            value,
            allowed,
        })
    }
}

fn count_in(
    setting: &'static str,
    value: usize,
    range: &RangeInclusive<usize>,
    allowed: &'static str,
) -> Result<(), GuardBuildError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(GuardBuildError::CountOutOfRange {
            setting,
            value,
            allowed,
        })
    }
}

//! [`GuardBuilder`]: the configuration of a [`Guard`], checked once at build.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;

use crate::assemble::{Connect, Named};
use crate::build_error::GuardBuildError;
use crate::cache::TokenCache;
use crate::client::ClientSettings;
use crate::clock::{Clock, SystemClock};
use crate::guard::{Guard, Inner};
use crate::header::TypPolicy;
use crate::issuers::TrustedIssuer;
use crate::keys::KeySource;
use crate::limits::{
    CACHE_CAPACITY, FETCH_TIMEOUT, JWKS_INTERVAL, LEEWAY, TOKEN_SIZE, count_in, duration_in,
};
use crate::metrics::{GuardMetrics, KeyOrigin};

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
    /// What `issuer`, `audience` and the key setters configure.
    primary: TrustedIssuer,
    /// What `trust` added.
    trusted: Vec<TrustedIssuer>,
    leeway: Duration,
    max_token_size: usize,
    typ_policy: TypPolicy,
    realm: Option<String>,
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
            primary: TrustedIssuer::unset(),
            trusted: Vec::new(),
            leeway: Duration::from_secs(60),
            max_token_size: 8 * 1024,
            typ_policy: TypPolicy::Lenient,
            realm: None,
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
            .field("issuer", &self.primary)
            .field("trusted", &self.trusted)
            .field("leeway", &self.leeway)
            .field("max_token_size", &self.max_token_size)
            .field("typ_policy", &self.typ_policy)
            .field("cache_capacity", &self.cache_capacity)
            .field("tls_roots", &self.tls_roots.len())
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("allow_short_hmac_secret", &self.allow_short_hmac_secret)
            .finish_non_exhaustive()
    }
}

impl GuardBuilder {
    /// The exact `iss` every token must carry. Required, unless every issuer is given
    /// with [`trust`](Self::trust).
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.primary.issuer = Some(issuer.into());
        self.primary.from_metadata = false;
        self
    }

    /// The issuer, with its JWKS URL read from its metadata once, at
    /// [`build`](Self::build). Replaces [`issuer`](Self::issuer); the expected `iss` is
    /// `issuer_url` exactly as given.
    ///
    /// The metadata is fetched from RFC 8414's location, the well-known suffix inserted
    /// between the host and the issuer's path (section 3.1:
    /// `https://example.com/issuer1` is read at
    /// `https://example.com/.well-known/oauth-authorization-server/issuer1`); when that
    /// answers 404, from `OpenID` Connect Discovery's, the suffix appended
    /// (`https://example.com/issuer1/.well-known/openid-configuration`). Both are
    /// fetched with the JWKS limits: the [fetch timeout](Self::fetch_timeout), 1 MiB, no
    /// redirect, TLS off loopback (the `http://` rule of [`jwks_url`](Self::jwks_url)
    /// applies to the issuer and to its `jwks_uri`).
    ///
    /// The document's `issuer` must equal `issuer_url` exactly (RFC 8414 section 3.3), and
    /// its `jwks_uri` is then used as [`jwks_url`](Self::jwks_url) would be (so do not set
    /// both). Unlike an unreachable JWKS, metadata that cannot be read fails `build` with
    /// [`GuardBuildError::Metadata`]: without it the guard would not know where its keys
    /// are. An issuer that is not an `https` URL without query or fragment (RFC 8414
    /// section 2; `http` as for the JWKS) is [`GuardBuildError::InvalidIssuerUrl`].
    ///
    /// ```no_run
    /// use portcullis_resource_guard::Guard;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), portcullis_resource_guard::GuardBuildError> {
    /// let guard = Guard::builder()
    ///     .from_issuer("https://iam.example.com") // needs the `rustls` feature
    ///     .audience("movies")
    ///     .build()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn from_issuer(mut self, issuer_url: impl Into<String>) -> Self {
        self.primary.issuer = Some(issuer_url.into());
        self.primary.from_metadata = true;
        self
    }

    /// The audience every token's `aud` must name (of the issuer set with
    /// [`issuer`](Self::issuer) or [`from_issuer`](Self::from_issuer); issuers added with
    /// [`trust`](Self::trust) have their own). Default is none: then a token that names
    /// any audience is rejected (RFC 7519 section 4.1.3).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.primary.audience = Some(audience.into());
        self
    }

    /// Trusts one more issuer, with its own keys and audience; may be called more than
    /// once. Each token is routed by its `iss` to its issuer, and verified with that
    /// issuer's keys only; a token of any other issuer is refused (`401 invalid_token`)
    /// without any key fetch. The issuer of [`issuer`](Self::issuer) and the key setters
    /// of this builder, when set, is one more. See [`TrustedIssuer`]. Default is none.
    #[must_use]
    pub fn trust(mut self, issuer: TrustedIssuer) -> Self {
        self.trusted.push(issuer);
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
        self.primary = self.primary.hmac_secret_with(alg, secret);
        self
    }

    /// Trusts a PEM public key (SPKI `PUBLIC KEY`, or `RSA PUBLIC KEY`) for `alg`:
    /// RS256/384/512, PS256/384/512, ES256/384 or `EdDSA`. It matches tokens without a
    /// `kid` or with one no other key claims. Default is no key.
    #[must_use]
    pub fn public_key_pem(mut self, alg: Algorithm, pem: impl AsRef<[u8]>) -> Self {
        self.primary = self.primary.public_key_pem(alg, pem);
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
        self.primary = self.primary.public_key_pem_with_kid(alg, pem, kid);
        self
    }

    /// Trusts a JWK; its algorithm is its `alg`, or follows from its key type. Default
    /// is no key.
    #[must_use]
    pub fn jwk(mut self, jwk: Jwk) -> Self {
        self.primary = self.primary.jwk(jwk);
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
        self.primary = self.primary.jwks_url(url);
        self
    }

    /// Trusts the keys of an in-process [`KeySource`] (the IAM's key ring). Default is none.
    #[must_use]
    pub fn key_source(mut self, source: impl KeySource) -> Self {
        self.primary = self.primary.key_source(source);
        self
    }

    /// Like [`key_source`](Self::key_source), for a source already in an `Arc`.
    #[must_use]
    pub fn key_source_arc(mut self, source: Arc<dyn KeySource>) -> Self {
        self.primary = self.primary.key_source_arc(source);
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

    /// Checks the configuration, converts the keys, reads the metadata of an issuer given
    /// with [`from_issuer`](Self::from_issuer) and, with a JWKS URL, makes a first fetch
    /// (whose failure is logged, not returned) and starts the background refresh.
    ///
    /// Every mistake is a [`GuardBuildError`], never a panic: a missing issuer or key, an
    /// issuer trusted twice, a short HMAC secret, a value out of its documented range, an
    /// insecure or invalid JWKS or issuer URL, metadata that cannot be read or names
    /// another issuer, or (with a JWKS URL) no tokio runtime. An `https://` URL without an
    /// [`http_client`](Self::http_client) fails here if there is no CA certificate to
    /// trust (install `ca-certificates` in slim images, or add a
    /// [`tls_root_certificate`](Self::tls_root_certificate)).
    pub async fn build(self) -> Result<Guard, GuardBuildError> {
        let mut configs = Vec::with_capacity(1 + self.trusted.len());
        // The builder's own issuer counts once anything is set on it, or when it is all.
        if !self.primary.is_unset() || self.trusted.is_empty() {
            configs.push(self.primary);
        }
        configs.extend(self.trusted);
        let named = Named::check_all(configs)?;
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
        let fetches = named.iter().any(Named::fetches);
        if fetches {
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
        }
        let checked = named
            .into_iter()
            .map(|issuer| issuer.check(self.allow_short_hmac_secret, self.allow_insecure_http))
            .collect::<Result<Vec<_>, _>>()?;
        if fetches && tokio::runtime::Handle::try_current().is_err() {
            return Err(GuardBuildError::NoRuntime);
        }
        let connect = Connect {
            client: ClientSettings {
                custom: self.http_client,
                timeout: self.fetch_timeout,
                roots: self.tls_roots,
            },
            min_refetch_interval: self.min_refetch_interval,
            refresh_interval: self.refresh_interval,
            allow_insecure_http: self.allow_insecure_http,
            leeway: self.leeway.as_secs(),
            clock: Arc::clone(&self.clock),
            generation: Arc::new(AtomicU64::new(0)),
        };
        let mut issuers = Vec::with_capacity(checked.len());
        let mut refreshers = Vec::new();
        for issuer in checked {
            let (keys, refresher) = issuer.connect(&connect).await?;
            issuers.push(keys);
            refreshers.extend(refresher);
        }
        let metrics = GuardMetrics::register();
        let static_count = issuers.iter().map(|i| i.static_keys.keys.len()).sum();
        metrics.keys(KeyOrigin::Static, static_count);
        if issuers.iter().any(|i| i.source.is_some()) {
            let source_count = issuers
                .iter()
                .filter_map(|i| i.source.as_ref())
                .map(|source| source.ring().0.keys.len())
                .sum();
            metrics.keys(KeyOrigin::KeySource, source_count);
        }
        let cache = (self.cache_capacity > 0).then(|| TokenCache::new(self.cache_capacity));
        Ok(Guard::from_inner(Inner {
            issuers,
            max_token_size: self.max_token_size,
            typ_policy: self.typ_policy,
            realm: self.realm,
            cache,
            generation: connect.generation,
            clock: self.clock,
            refreshers,
            metrics,
        }))
    }
}

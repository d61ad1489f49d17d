//! [`Guard`], its builder, and token verification.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};

use crate::cache::TokenCache;
use crate::claims::{Claims, RawClaims, TimeClaim, Verified};
use crate::clock::{Clock, SystemClock};
use crate::error::{GuardError, TokenRejection};
use crate::jwks::{JwksClient, JwksKeys, JwksSettings};
use crate::keys::{self, KeyRing, KeySource, SourceKeys, TrustedKey};
use crate::middleware::GuardLayer;

/// Which `typ` header values are accepted.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypPolicy {
    /// `at+jwt` (RFC 9068), `JWT`, or no `typ` at all. The default.
    #[default]
    Lenient,
    /// Only `at+jwt` (or `application/at+jwt`), as RFC 9068 requires of access tokens.
    Strict,
}

impl TypPolicy {
    fn accepts(self, typ: Option<&str>) -> bool {
        let is_at_jwt = |t: &str| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        };
        match (self, typ) {
            (Self::Lenient, None) => true,
            (Self::Lenient, Some(t)) => is_at_jwt(t) || t.eq_ignore_ascii_case("JWT"),
            (Self::Strict, Some(t)) => is_at_jwt(t),
            (Self::Strict, None) => false,
        }
    }
}

/// Validates bearer tokens: cheap to clone (an `Arc` inside), shared by every layer
/// made from it.
///
/// Build one with [`Guard::builder`]; put [`layer`](Self::layer) in front of routes, or
/// call [`verify`](Self::verify) directly.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: Option<String>,
    leeway: u64,
    max_token_size: usize,
    typ_policy: TypPolicy,
    realm: Option<String>,
    static_keys: KeyRing,
    jwks: Option<Arc<JwksKeys>>,
    source: Option<SourceKeys>,
    cache: Option<TokenCache>,
    /// Bumped whenever the dynamic keys change; cached tokens of older generations are misses.
    generation: Arc<AtomicU64>,
    clock: Arc<dyn Clock>,
    refresher: Option<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(refresher) = &self.refresher {
            refresher.abort();
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Guard")
            .field("issuer", &inner.issuer)
            .field("audience", &inner.audience)
            .field("leeway", &inner.leeway)
            .field("max_token_size", &inner.max_token_size)
            .field("typ_policy", &inner.typ_policy)
            .field("static_keys", &inner.static_keys)
            .field("jwks", &inner.jwks)
            .field("key_source", &inner.source)
            .field("cache", &inner.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// The outcome of a verification that never waits.
pub(crate) enum Attempt {
    Done(Result<Arc<Verified>, GuardError>),
    /// The token names a key we may learn by fetching the JWKS again.
    NeedsKeys(Option<String>),
}

/// The members of a JOSE header this crate looks at.
#[derive(Deserialize)]
#[allow(clippy::struct_excessive_bools)] // presence flags, checked together
struct RawHeader<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// True when the member is there at all, whatever its value (even `null`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

fn algorithm(name: &str) -> Option<Algorithm> {
    // Exact, case-sensitive names (RFC 7518): `none`, `None`, `NONE` and friends fail here.
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

fn valid_kid(kid: &str) -> bool {
    (1..=256).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=:".contains(&b))
}

/// A token split into its parts; `message` is `header.payload`.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    message: &'a str,
}

/// The bytes a compact JWS may hold: base64url and the dot.
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
        b += 1;
    }
    table
};

fn split(token: &str) -> Option<Parts<'_>> {
    if !token.bytes().all(|b| TOKEN_BYTES[usize::from(b)]) {
        return None;
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return None;
    }
    Some(Parts {
        header,
        payload,
        signature,
        message: &token[..header.len() + 1 + payload.len()],
    })
}

impl Guard {
    /// A builder; [`issuer`](GuardBuilder::issuer) and one key source are required.
    pub fn builder() -> GuardBuilder {
        GuardBuilder::default()
    }

    /// A layer that requires a valid bearer token on every request it wraps.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone(), false)
    }

    /// A layer that lets requests without bearer credentials through (handlers see no
    /// claims), but still rejects a bad token when one is sent.
    pub fn optional_layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone(), true)
    }

    /// The realm sent in `WWW-Authenticate`, if one is configured.
    pub fn realm(&self) -> Option<&str> {
        self.inner.realm.as_deref()
    }

    /// Verifies `token` (without the `Bearer ` prefix) and returns its claims, with the
    /// application's own claims as `T` (use `()` for none).
    pub async fn verify<T: DeserializeOwned + 'static>(
        &self,
        token: &str,
    ) -> Result<Claims<T>, GuardError> {
        self.verify_shared(token).await?.claims_as()
    }

    pub(crate) async fn verify_shared(&self, token: &str) -> Result<Arc<Verified>, GuardError> {
        match self.try_verify(token, true) {
            Attempt::Done(result) => result,
            Attempt::NeedsKeys(kid) => {
                if let Some(jwks) = &self.inner.jwks {
                    jwks.refetch_for_unknown_kid(kid.as_deref()).await;
                }
                match self.try_verify(token, false) {
                    Attempt::Done(result) => result,
                    Attempt::NeedsKeys(_) => unreachable!("no fetch is asked for on a retry"),
                }
            }
        }
    }

    /// The number of verified tokens in the cache (0 when the cache is disabled).
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Verifies without waiting; asks for a JWKS fetch when `may_fetch` and the key is unknown.
    pub(crate) fn try_verify(&self, token: &str, may_fetch: bool) -> Attempt {
        let inner = &*self.inner;
        if token.len() > inner.max_token_size {
            return Attempt::Done(Err(GuardError::InvalidToken(TokenRejection::TooLarge)));
        }
        let now = inner.clock.unix_seconds();
        // Read before the cache, so that a changed key set makes older entries misses.
        let generation = self.current_generation();
        // A hit means these exact bytes were verified before: no need to look at them again.
        let key = inner.cache.as_ref().map(|cache| cache.key(token));
        if let (Some(cache), Some(key)) = (&inner.cache, key)
            && let Some(hit) = cache.get(key, token, now, generation)
        {
            return Attempt::Done(Ok(hit));
        }
        let Some(parts) = split(token) else {
            return Attempt::Done(Err(GuardError::InvalidToken(TokenRejection::Malformed)));
        };
        match self.verify_parts(&parts, now, may_fetch) {
            Ok((verified, expires_at)) => {
                let verified = Arc::new(verified);
                if let (Some(cache), Some(key)) = (&inner.cache, key) {
                    cache.insert(
                        key,
                        token,
                        Arc::clone(&verified),
                        expires_at,
                        now,
                        generation,
                    );
                }
                Attempt::Done(Ok(verified))
            }
            Err(Some(error)) => Attempt::Done(Err(error)),
            Err(None) => {
                let kid = decode_header_kid(parts.header);
                Attempt::NeedsKeys(kid)
            }
        }
    }

    fn current_generation(&self) -> u64 {
        if let Some(source) = &self.inner.source {
            let (_, changed) = source.ring();
            if changed {
                self.inner.generation.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.inner.generation.load(Ordering::Acquire)
    }

    /// `Err(None)` means "unknown key, a fetch may help".
    fn verify_parts(
        &self,
        parts: &Parts<'_>,
        now: u64,
        may_fetch: bool,
    ) -> Result<(Verified, u64), Option<GuardError>> {
        let inner = &*self.inner;
        let reject = |reason| Some(GuardError::InvalidToken(reason));

        let header_json = URL_SAFE_NO_PAD
            .decode(parts.header)
            .map_err(|_| reject(TokenRejection::Malformed))?;
        if header_json.first() != Some(&b'{') {
            return Err(reject(TokenRejection::MalformedHeader));
        }
        let header: RawHeader<'_> = serde_json::from_slice(&header_json)
            .map_err(|_| reject(TokenRejection::MalformedHeader))?;
        let alg_name = header
            .alg
            .as_deref()
            .ok_or_else(|| reject(TokenRejection::MalformedHeader))?;
        let alg =
            algorithm(alg_name).ok_or_else(|| reject(TokenRejection::UnsupportedAlgorithm))?;
        if header.jku || header.x5u || header.jwk || header.x5c {
            return Err(reject(TokenRejection::EmbeddedKey));
        }
        if header.crit {
            return Err(reject(TokenRejection::UnknownCritical));
        }
        if !inner.typ_policy.accepts(header.typ.as_deref()) {
            return Err(reject(TokenRejection::WrongType));
        }
        let kid = header.kid.as_deref();
        if kid.is_some_and(|kid| !valid_kid(kid)) {
            return Err(reject(TokenRejection::MalformedKeyId));
        }

        let jwks_ring = inner.jwks.as_ref().map(|jwks| jwks.ring());
        let source_ring = inner.source.as_ref().map(|source| source.ring().0);
        let mut rings: Vec<&KeyRing> = Vec::with_capacity(3);
        rings.push(&inner.static_keys);
        rings.extend(jwks_ring.as_deref());
        rings.extend(source_ring.as_deref());
        let candidates = match keys::candidates(&rings, kid, alg) {
            Ok(candidates) => candidates,
            Err(TokenRejection::UnknownKey) => {
                return Err(match &inner.jwks {
                    Some(_) if may_fetch => None,
                    Some(jwks) if !jwks.is_loaded() => Some(GuardError::KeysUnavailable),
                    _ => reject(TokenRejection::UnknownKey),
                });
            }
            Err(reason) => return Err(reject(reason)),
        };
        verify_signature(parts, &candidates, alg).map_err(reject)?;

        let payload = URL_SAFE_NO_PAD
            .decode(parts.payload)
            .map_err(|_| reject(TokenRejection::Malformed))?;
        let raw = RawClaims::parse(&payload).map_err(reject)?;
        let expires_at = self.check_claims(&raw, now).map_err(Some)?;
        let TimeClaim::Valid(exp) = raw.exp else {
            unreachable!("check_claims requires a valid exp")
        };
        let claims = Claims {
            sub: raw.sub.unwrap_or_default(),
            name: raw.name.unwrap_or_default(),
            role: raw.role.unwrap_or_default(),
            roles: raw.roles.unwrap_or_default(),
            scope: raw.scope.unwrap_or_default(),
            iss: raw.iss.unwrap_or_default(),
            aud: raw.aud.unwrap_or_default(),
            exp,
            iat: time_value(raw.iat),
            nbf: time_value(raw.nbf),
            jti: raw.jti,
            extra: (),
        };
        Ok((
            Verified {
                claims,
                payload: payload.into_boxed_slice(),
            },
            expires_at,
        ))
    }

    /// Checks `iss`, `aud`, `exp`, `nbf`, `iat`; returns when the token dies (`exp` + leeway).
    fn check_claims(&self, raw: &RawClaims, now: u64) -> Result<u64, GuardError> {
        let inner = &*self.inner;
        let reject = GuardError::InvalidToken;
        if raw.iss.as_deref() != Some(inner.issuer.as_str()) {
            return Err(reject(TokenRejection::WrongIssuer));
        }
        match (&inner.audience, &raw.aud) {
            (Some(wanted), Some(aud)) if aud.iter().any(|a| a == wanted) => {}
            (None, None) => {}
            (None, Some(aud)) if aud.is_empty() => {}
            _ => return Err(reject(TokenRejection::WrongAudience)),
        }
        let exp = match raw.exp {
            TimeClaim::Absent => return Err(reject(TokenRejection::MissingExpiry)),
            TimeClaim::Invalid => return Err(reject(TokenRejection::MalformedTime)),
            TimeClaim::Valid(exp) => exp,
        };
        if raw.nbf == TimeClaim::Invalid || raw.iat == TimeClaim::Invalid {
            return Err(reject(TokenRejection::MalformedTime));
        }
        let expires_at = exp.saturating_add(inner.leeway);
        if now > expires_at {
            return Err(GuardError::ExpiredToken);
        }
        let latest_start = now.saturating_add(inner.leeway);
        if matches!(raw.nbf, TimeClaim::Valid(nbf) if nbf > latest_start) {
            return Err(reject(TokenRejection::NotYetValid));
        }
        if matches!(raw.iat, TimeClaim::Valid(iat) if iat > latest_start) {
            return Err(reject(TokenRejection::IssuedInFuture));
        }
        Ok(expires_at)
    }
}

fn time_value(claim: TimeClaim) -> Option<u64> {
    match claim {
        TimeClaim::Valid(t) => Some(t),
        _ => None,
    }
}

fn decode_header_kid(header: &str) -> Option<String> {
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: RawHeader<'_> = serde_json::from_slice(&json).ok()?;
    header.kid.map(Cow::into_owned)
}

fn verify_signature(
    parts: &Parts<'_>,
    candidates: &[&TrustedKey],
    alg: Algorithm,
) -> Result<(), TokenRejection> {
    for key in candidates {
        debug_assert_eq!(key.alg, alg);
        match jsonwebtoken::crypto::verify(parts.signature, parts.message.as_bytes(), &key.key, alg)
        {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) if matches!(error.kind(), ErrorKind::Base64(_)) => {
                return Err(TokenRejection::Malformed);
            }
            Err(error) => {
                tracing::debug!(kid = ?key.kid, %error, "signature check failed");
            }
        }
    }
    Err(TokenRejection::BadSignature)
}

/// A key given to the builder, converted at [`GuardBuilder::build`].
enum PendingKey {
    Hmac(Algorithm, Vec<u8>),
    Pem(Algorithm, Vec<u8>, Option<String>),
    Jwk(Box<Jwk>),
}

impl fmt::Debug for PendingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(alg, _) => f
                .debug_tuple("Hmac")
                .field(alg)
                .field(&"[redacted]")
                .finish(),
            Self::Pem(alg, _, kid) => f.debug_tuple("Pem").field(alg).field(kid).finish(),
            Self::Jwk(jwk) => f.debug_tuple("Jwk").field(&jwk.common.key_id).finish(),
        }
    }
}

/// Configures a [`Guard`].
///
/// ```
/// use std::time::Duration;
/// use portcullis_resource_guard::Guard;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), portcullis_resource_guard::GuardError> {
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

    /// Clock skew allowed on `exp`, `nbf` and `iat`. Default is 60 seconds.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The longest token accepted, checked before any parsing. Default is 8 KiB.
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

    /// A `realm` for the `WWW-Authenticate` challenges. Default is none.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Trusts an HMAC secret for HS256 (the seed's shared `jwtSecretPassword`). Default
    /// is no secret. Anyone holding the secret can mint tokens: prefer public keys.
    #[must_use]
    pub fn hmac_secret(self, secret: impl AsRef<[u8]>) -> Self {
        self.hmac_secret_with(Algorithm::HS256, secret)
    }

    /// Trusts an HMAC secret for `alg` (HS256, HS384 or HS512). Default is no secret.
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

    /// Trusts the keys published at a JWKS URL (`http://`; `https://` needs the `rustls`
    /// feature: rustls on `ring`, trusting the platform's CA roots). An unreachable URL
    /// does not fail [`build`](Self::build): keys are fetched again in the background and
    /// on demand. Default is none.
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

    /// The timeout of one JWKS fetch (for the default client). Default is 5 seconds.
    #[must_use]
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The least time between two JWKS fetches caused by unknown `kid`s, and the retry
    /// interval after a failed refresh. Default is 60 seconds.
    #[must_use]
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// How long fetched keys are used before a background refresh when the JWKS response
    /// has no `Cache-Control: max-age`. Default is 5 minutes.
    #[must_use]
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// How many verified tokens are remembered (repeats skip signature checks); 0
    /// disables the cache. Default is 10 000.
    #[must_use]
    pub fn cache_capacity(mut self, tokens: usize) -> Self {
        self.cache_capacity = tokens;
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
    /// Must run inside a tokio runtime when a JWKS URL is set. An `https://` URL without
    /// an [`http_client`](Self::http_client) fails here if the system has no CA
    /// certificate to trust (install `ca-certificates` in slim images).
    pub async fn build(self) -> Result<Guard, GuardError> {
        let issuer = self
            .issuer
            .filter(|i| !i.is_empty())
            .ok_or_else(|| GuardError::config("an issuer is required"))?;
        if self.audience.as_deref() == Some("") {
            return Err(GuardError::config("the audience is empty"));
        }
        if self.keys.is_empty() && self.jwks_url.is_none() && self.key_source.is_none() {
            return Err(GuardError::config(
                "no key: set an HMAC secret, a public key, a JWK, a JWKS URL or a key source",
            ));
        }
        let static_keys = KeyRing {
            keys: self
                .keys
                .into_iter()
                .map(convert_key)
                .collect::<Result<_, _>>()?,
        };
        let generation = Arc::new(AtomicU64::new(0));
        let mut refresher = None;
        let jwks = match self.jwks_url {
            None => None,
            Some(url) => {
                let url = reqwest::Url::parse(&url)
                    .map_err(|e| GuardError::config_with("the JWKS URL is invalid", e))?;
                match url.scheme() {
                    "http" => {}
                    "https" if cfg!(feature = "rustls") => {}
                    "https" => {
                        return Err(GuardError::config(
                            "an https JWKS URL needs the `rustls` feature",
                        ));
                    }
                    _ => return Err(GuardError::config("the JWKS URL must be http or https")),
                }
                let client = match (self.http_client, url.scheme()) {
                    (Some(client), _) => JwksClient::Reqwest(client),
                    #[cfg(feature = "rustls")]
                    (None, "https") => {
                        JwksClient::Tls(crate::tls::TlsClient::new(self.fetch_timeout).map_err(
                            |e| GuardError::config_with("cannot build the HTTPS client", e),
                        )?)
                    }
                    (None, _) => JwksClient::Reqwest(
                        reqwest::Client::builder()
                            .timeout(self.fetch_timeout)
                            .redirect(reqwest::redirect::Policy::none())
                            .build()
                            .map_err(|e| {
                                GuardError::config_with("cannot build the HTTP client", e)
                            })?,
                    ),
                };
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
        let cache = (self.cache_capacity > 0).then(|| TokenCache::new(self.cache_capacity));
        Ok(Guard {
            inner: Arc::new(Inner {
                issuer,
                audience: self.audience,
                leeway: self.leeway.as_secs(),
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
            }),
        })
    }
}

fn convert_key(key: PendingKey) -> Result<TrustedKey, GuardError> {
    match key {
        PendingKey::Hmac(alg, secret) => {
            if alg.family() != AlgorithmFamily::Hmac {
                return Err(GuardError::config(format!(
                    "{alg:?} is not an HMAC algorithm"
                )));
            }
            if secret.is_empty() {
                return Err(GuardError::config("the HMAC secret is empty"));
            }
            if secret.len() < 32 {
                tracing::warn!(
                    "the HMAC secret is shorter than 32 bytes; RFC 7518 asks for at least the hash size"
                );
            }
            Ok(TrustedKey {
                kid: None,
                alg,
                key: DecodingKey::from_secret(&secret),
            })
        }
        PendingKey::Pem(alg, pem, kid) => {
            let key = match alg.family() {
                AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
                AlgorithmFamily::Ed => DecodingKey::from_ed_pem(&pem),
                AlgorithmFamily::Hmac => {
                    return Err(GuardError::config(
                        "HMAC algorithms take a secret (hmac_secret), not a PEM key",
                    ));
                }
            }
            .map_err(|e| GuardError::config_with(format!("the {alg:?} PEM key is invalid"), e))?;
            Ok(TrustedKey { kid, alg, key })
        }
        PendingKey::Jwk(jwk) => keys::key_from_jwk(&jwk, true)
            .map_err(|reason| GuardError::config(format!("the JWK is not usable: {reason}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_policy_lenient_and_strict() {
        assert!(TypPolicy::Lenient.accepts(None));
        assert!(TypPolicy::Lenient.accepts(Some("JWT")));
        assert!(TypPolicy::Lenient.accepts(Some("at+JWT")));
        assert!(!TypPolicy::Lenient.accepts(Some("JOSE")));
        assert!(TypPolicy::Strict.accepts(Some("application/at+jwt")));
        assert!(!TypPolicy::Strict.accepts(Some("JWT")));
        assert!(!TypPolicy::Strict.accepts(None));
    }

    #[test]
    fn none_is_never_an_algorithm() {
        for name in ["none", "None", "NONE", "nOnE", "", "hs256", "HS256 "] {
            assert!(algorithm(name).is_none(), "{name}");
        }
    }

    #[test]
    fn tokens_split_into_exactly_three_base64url_segments() {
        assert!(split("a.b.c").is_some());
        for bad in [
            "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c d", "a.b.c=", "a.b+.c", "",
        ] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn key_ids_with_path_or_injection_text_are_refused() {
        assert!(valid_kid("Dn7cvZ0Nz8jQ-4fw_aX9"));
        assert!(valid_kid("../../etc/passwd"));
        for bad in ["' OR 1=1 --", "a\"b", "a\\b", "a b", "", &"k".repeat(257)] {
            assert!(!valid_kid(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn build_requires_an_issuer_and_a_key() {
        let err = Guard::builder()
            .hmac_secret(b"s")
            .build()
            .await
            .unwrap_err();
        assert!(matches!(err, GuardError::Config { .. }));
        let err = Guard::builder().issuer("i").build().await.unwrap_err();
        assert!(matches!(err, GuardError::Config { .. }));
    }

    #[tokio::test]
    async fn hmac_algorithms_refuse_pem_keys() {
        let err = Guard::builder()
            .issuer("i")
            .public_key_pem(Algorithm::HS256, b"-----BEGIN PUBLIC KEY-----")
            .build()
            .await
            .unwrap_err();
        assert!(matches!(err, GuardError::Config { .. }));
    }

    #[tokio::test]
    async fn a_cache_hit_skips_signature_verification() {
        let guard = Guard::builder()
            .issuer("i")
            .hmac_secret(b"0123456789abcdef0123456789abcdef")
            .build()
            .await
            .unwrap();
        // A well-formed token whose signature is garbage.
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJpIn0.AAAA";
        assert!(matches!(
            guard.verify::<()>(token).await,
            Err(GuardError::InvalidToken(TokenRejection::BadSignature))
        ));
        let planted = Verified {
            claims: Claims {
                sub: "planted".into(),
                name: String::new(),
                role: String::new(),
                roles: Vec::new(),
                scope: String::new(),
                iss: "i".into(),
                aud: Vec::new(),
                exp: u64::MAX,
                iat: None,
                nbf: None,
                jti: None,
                extra: (),
            },
            payload: b"{}".to_vec().into_boxed_slice(),
        };
        let cache = guard.inner.cache.as_ref().unwrap();
        cache.insert(cache.key(token), token, Arc::new(planted), u64::MAX, 0, 0);
        let claims = guard.verify::<()>(token).await.unwrap();
        assert_eq!(claims.sub, "planted");
    }
}

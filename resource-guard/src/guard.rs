//! [`Guard`]: verifies tokens, with the verified-token cache in front.
//!
//! The order of the checks: the size cap, the cache (these exact bytes verified before?),
//! the split into three parts, the header ([`crate::header`]), the issuer named by `iss`
//! ([`crate::routing`]), the key of that issuer bound to the token's algorithm
//! ([`crate::keys`]), the signature ([`crate::signature`]), then the claims
//! ([`crate::validation`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

use crate::builder::GuardBuilder;
use crate::cache::TokenCache;
use crate::claims::{Claims, RawClaims, Verified};
use crate::clock::Clock;
use crate::error::{GuardError, TokenRejection};
use crate::header::{self, TypPolicy};
use crate::keys::{self, KeyRing};
use crate::metrics::{GuardMetrics, KeyOrigin};
use crate::middleware::GuardLayer;
use crate::routing::{self, IssuerKeys};
use crate::signature;
use crate::token::{self, Parts};

/// Validates bearer tokens: cheap to clone (an `Arc` inside), shared by every layer
/// made from it.
///
/// Build one with [`Guard::builder`]; put [`layer`](Self::layer) in front of routes, or
/// call [`verify`](Self::verify) directly.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

/// Everything a built guard holds; made by [`GuardBuilder::build`].
pub(crate) struct Inner {
    /// The trusted issuers, at least one, each `iss` once.
    pub(crate) issuers: Vec<IssuerKeys>,
    pub(crate) max_token_size: usize,
    pub(crate) typ_policy: TypPolicy,
    pub(crate) realm: Option<String>,
    pub(crate) cache: Option<TokenCache>,
    /// Bumped whenever the dynamic keys change; cached tokens of older generations are misses.
    pub(crate) generation: Arc<AtomicU64>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The background refreshes of the JWKS, one per issuer with a JWKS.
    pub(crate) refreshers: Vec<tokio::task::AbortHandle>,
    pub(crate) metrics: GuardMetrics,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for refresher in &self.refreshers {
            refresher.abort();
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Guard")
            .field("issuers", &inner.issuers)
            .field("max_token_size", &inner.max_token_size)
            .field("typ_policy", &inner.typ_policy)
            .field("cache", &inner.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// The outcome of a verification that never waits.
pub(crate) enum Attempt {
    Done(Result<Arc<Verified>, GuardError>),
    /// The token names a key we may learn by fetching its issuer's JWKS again.
    NeedsKeys(Refetch),
}

/// Which JWKS to fetch again, and for which `kid`.
pub(crate) struct Refetch {
    /// The index of the token's issuer.
    issuer: usize,
    kid: Option<String>,
}

/// Why a full verification did not succeed.
enum Failure {
    Rejected(GuardError),
    /// No trusted key matches, and fetching the issuer's JWKS again may help.
    UnknownKey(Refetch),
}

impl From<TokenRejection> for Failure {
    fn from(reason: TokenRejection) -> Self {
        Self::Rejected(GuardError::InvalidToken(reason))
    }
}

impl Guard {
    /// A builder; an issuer ([`issuer`](GuardBuilder::issuer),
    /// [`from_issuer`](GuardBuilder::from_issuer) or [`trust`](GuardBuilder::trust)) with
    /// a key source is required.
    pub fn builder() -> GuardBuilder {
        GuardBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
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

    /// Verifies `token`, fetching the JWKS again if it names an unknown key; counts the
    /// result in the metrics.
    pub(crate) async fn verify_shared(&self, token: &str) -> Result<Arc<Verified>, GuardError> {
        let result = self.verify_uncounted(token).await;
        self.count(result.as_ref().map(|_| ()));
        result
    }

    /// Counts a request's result in the metrics (feature `metrics`).
    #[inline]
    pub(crate) fn count(&self, result: Result<(), &GuardError>) {
        match result {
            Ok(()) => self.inner.metrics.accepted(),
            Err(error) => self.inner.metrics.rejected(error),
        }
    }

    async fn verify_uncounted(&self, token: &str) -> Result<Arc<Verified>, GuardError> {
        match self.try_verify(token, true) {
            Attempt::Done(result) => result,
            Attempt::NeedsKeys(Refetch { issuer, kid }) => {
                if let Some(jwks) = &self.inner.issuers[issuer].jwks {
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
            inner.metrics.cache(true);
            return Attempt::Done(Ok(hit));
        }
        if inner.cache.is_some() {
            inner.metrics.cache(false);
        }
        let Some(parts) = token::split(token) else {
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
            Err(Failure::Rejected(error)) => Attempt::Done(Err(error)),
            Err(Failure::UnknownKey(refetch)) => Attempt::NeedsKeys(refetch),
        }
    }

    fn current_generation(&self) -> u64 {
        let mut changed = false;
        let mut keys = 0;
        for source in self.inner.issuers.iter().filter_map(|i| i.source.as_ref()) {
            let (ring, this_changed) = source.ring();
            changed |= this_changed;
            keys += ring.keys.len();
        }
        if changed {
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
            self.inner.metrics.keys(KeyOrigin::KeySource, keys);
        }
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The full check of a token that missed the cache; returns it with the time it dies.
    fn verify_parts(
        &self,
        parts: &Parts<'_>,
        now: u64,
        may_fetch: bool,
    ) -> Result<(Verified, u64), Failure> {
        let inner = &*self.inner;
        let header = header::check(parts.header, inner.typ_policy)?;
        let payload = URL_SAFE_NO_PAD
            .decode(parts.payload)
            .map_err(|_| TokenRejection::Malformed)?;
        // `iss` picks the issuer, before the signature and for nothing else.
        let index = routing::route(&inner.issuers, &payload)?;
        let issuer = &inner.issuers[index];

        let jwks_ring = issuer.jwks.as_ref().map(|jwks| jwks.ring());
        let source_ring = issuer.source.as_ref().map(|source| source.ring().0);
        let mut rings: Vec<&KeyRing> = Vec::with_capacity(3);
        rings.push(&issuer.static_keys);
        rings.extend(jwks_ring.as_deref());
        rings.extend(source_ring.as_deref());
        let candidates = match keys::candidates(&rings, header.kid.as_deref(), header.alg) {
            Ok(candidates) => candidates,
            Err(TokenRejection::UnknownKey) => {
                return Err(match &issuer.jwks {
                    Some(_) if may_fetch => Failure::UnknownKey(Refetch {
                        issuer: index,
                        kid: header.kid,
                    }),
                    Some(jwks) if !jwks.is_loaded() => {
                        Failure::Rejected(GuardError::KeysUnavailable)
                    }
                    _ => TokenRejection::UnknownKey.into(),
                });
            }
            Err(reason) => return Err(reason.into()),
        };
        signature::verify(parts, &candidates, header.alg)?;

        let raw = RawClaims::parse(&payload)?;
        let (claims, expires_at) = issuer.rules.check(raw, now).map_err(Failure::Rejected)?;
        Ok((
            Verified {
                claims,
                payload: payload.into_boxed_slice(),
            },
            expires_at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

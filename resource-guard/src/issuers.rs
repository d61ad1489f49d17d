//! [`TrustedIssuer`]: one issuer a guard trusts, with its own keys and audience.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;

use crate::keys::{KeySource, PendingKey};

/// One issuer a [`Guard`](crate::Guard) trusts: its exact `iss`, the audience its tokens
/// must name, and where its keys come from.
///
/// Give several to [`GuardBuilder::trust`](crate::GuardBuilder::trust): each token is
/// routed by its `iss` to its issuer, and is verified only with that issuer's keys (so
/// only with the algorithms those keys are bound to) and checked against that issuer's
/// audience. A token of an issuer not trusted is refused (`401 invalid_token`) before any
/// key is looked up or fetched. The guard-wide settings (leeway, fetch limits, cache, ...)
/// stay on the [`GuardBuilder`](crate::GuardBuilder).
///
/// ```
/// use portcullis_resource_guard::{Guard, TrustedIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), portcullis_resource_guard::GuardBuildError> {
/// let guard = Guard::builder()
///     .trust(
///         TrustedIssuer::new("seedotech")
///             .audience("movies")
///             .hmac_secret(b"the secret shared with the first issuer"),
///     )
///     .trust(
///         TrustedIssuer::new("partner")
///             .audience("movies-partner")
///             .hmac_secret(b"another secret, of the partner's issuer"),
///     )
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct TrustedIssuer {
    pub(crate) issuer: Option<String>,
    pub(crate) from_metadata: bool,
    pub(crate) audience: Option<String>,
    pub(crate) keys: Vec<PendingKey>,
    pub(crate) jwks_url: Option<String>,
    pub(crate) key_source: Option<Arc<dyn KeySource>>,
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("from_metadata", &self.from_metadata)
            .field("audience", &self.audience)
            .field("keys", &self.keys)
            .field("jwks_url", &self.jwks_url)
            .field("key_source", &self.key_source)
            .finish()
    }
}

impl TrustedIssuer {
    /// An issuer whose tokens carry exactly this `iss`; at least one key is required.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: Some(issuer.into()),
            ..Self::unset()
        }
    }

    /// An issuer whose keys are found through its metadata, read once at build: see
    /// [`GuardBuilder::from_issuer`](crate::GuardBuilder::from_issuer).
    pub fn from_issuer(issuer_url: impl Into<String>) -> Self {
        Self {
            issuer: Some(issuer_url.into()),
            from_metadata: true,
            ..Self::unset()
        }
    }

    /// Nothing set yet: the builder's own issuer before its setters are called. (No
    /// public `Default`: an issuer without its `iss` is not a configuration.)
    pub(crate) fn unset() -> Self {
        Self {
            issuer: None,
            from_metadata: false,
            audience: None,
            keys: Vec::new(),
            jwks_url: None,
            key_source: None,
        }
    }

    /// Whether nothing was set (the builder's own issuer when only [`trust`] is used).
    ///
    /// [`trust`]: crate::GuardBuilder::trust
    pub(crate) fn is_unset(&self) -> bool {
        self.issuer.is_none()
            && self.audience.is_none()
            && self.keys.is_empty()
            && self.jwks_url.is_none()
            && self.key_source.is_none()
    }

    /// The audience this issuer's tokens must name: see
    /// [`GuardBuilder::audience`](crate::GuardBuilder::audience). Default is none.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Trusts an HMAC secret for HS256 for this issuer: see
    /// [`GuardBuilder::hmac_secret`](crate::GuardBuilder::hmac_secret).
    #[must_use]
    pub fn hmac_secret(self, secret: impl AsRef<[u8]>) -> Self {
        self.hmac_secret_with(Algorithm::HS256, secret)
    }

    /// Trusts an HMAC secret for `alg` for this issuer: see
    /// [`GuardBuilder::hmac_secret_with`](crate::GuardBuilder::hmac_secret_with).
    #[must_use]
    pub fn hmac_secret_with(mut self, alg: Algorithm, secret: impl AsRef<[u8]>) -> Self {
        self.keys
            .push(PendingKey::Hmac(alg, secret.as_ref().to_vec()));
        self
    }

    /// Trusts a PEM public key for this issuer: see
    /// [`GuardBuilder::public_key_pem`](crate::GuardBuilder::public_key_pem).
    #[must_use]
    pub fn public_key_pem(mut self, alg: Algorithm, pem: impl AsRef<[u8]>) -> Self {
        self.keys
            .push(PendingKey::Pem(alg, pem.as_ref().to_vec(), None));
        self
    }

    /// Trusts a PEM public key for this issuer's tokens whose `kid` is `kid`: see
    /// [`GuardBuilder::public_key_pem_with_kid`](crate::GuardBuilder::public_key_pem_with_kid).
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

    /// Trusts a JWK for this issuer: see [`GuardBuilder::jwk`](crate::GuardBuilder::jwk).
    #[must_use]
    pub fn jwk(mut self, jwk: Jwk) -> Self {
        self.keys.push(PendingKey::Jwk(Box::new(jwk)));
        self
    }

    /// Trusts the keys published at a JWKS URL for this issuer: see
    /// [`GuardBuilder::jwks_url`](crate::GuardBuilder::jwks_url). Not with
    /// [`from_issuer`](Self::from_issuer), which takes the URL from the metadata.
    #[must_use]
    pub fn jwks_url(mut self, url: impl AsRef<str>) -> Self {
        self.jwks_url = Some(url.as_ref().to_owned());
        self
    }

    /// Trusts the keys of an in-process [`KeySource`] for this issuer: see
    /// [`GuardBuilder::key_source`](crate::GuardBuilder::key_source).
    #[must_use]
    pub fn key_source(self, source: impl KeySource) -> Self {
        self.key_source_arc(Arc::new(source))
    }

    /// Like [`key_source`](Self::key_source), for a source already in an `Arc`.
    #[must_use]
    pub fn key_source_arc(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key_source = Some(source);
        self
    }
}

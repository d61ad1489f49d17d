//! Trusted keys: converted from what the builder was given, each bound to one
//! algorithm, looked up by `kid`.

use std::fmt;
use std::sync::{Arc, RwLock};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::build_error::GuardBuildError;
use crate::error::TokenRejection;

/// A source of public keys living in the same process, such as the IAM's key ring.
///
/// [`GuardBuilder::key_source`](crate::GuardBuilder::key_source) asks it for the current
/// set on every verification that misses the token cache, so it should be cheap: return
/// the same `Arc` until the keys change (a changed `Arc` is converted once and the token
/// cache is emptied). Symmetric (`oct`) keys in the set are ignored.
///
/// ```
/// use std::sync::Arc;
/// use portcullis_resource_guard::KeySource;
/// use portcullis_resource_guard::jsonwebtoken::jwk::JwkSet;
///
/// #[derive(Debug)]
/// struct Fixed(Arc<JwkSet>);
///
/// impl KeySource for Fixed {
///     fn jwk_set(&self) -> Arc<JwkSet> {
///         Arc::clone(&self.0)
///     }
/// }
/// ```
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// The current public keys (e.g. the IAM's own in-process key ring).
    fn jwk_set(&self) -> Arc<JwkSet>;
}

/// A key the guard trusts, with the one algorithm it may verify.
#[derive(Clone)]
pub(crate) struct TrustedKey {
    pub(crate) kid: Option<String>,
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A key given to the builder, converted at [`GuardBuilder::build`](crate::GuardBuilder::build).
pub(crate) enum PendingKey {
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

/// The least HMAC secret length for `alg`: its hash size (RFC 7518 section 3.2).
pub(crate) fn min_hmac_secret_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

impl PendingKey {
    /// The trusted key; HMAC secrets shorter than the hash are refused unless
    /// `allow_short_hmac_secret`.
    pub(crate) fn convert(
        self,
        allow_short_hmac_secret: bool,
    ) -> Result<TrustedKey, GuardBuildError> {
        match self {
            Self::Hmac(alg, secret) => {
                if alg.family() != AlgorithmFamily::Hmac {
                    return Err(GuardBuildError::invalid_key(format!(
                        "{alg:?} is not an HMAC algorithm"
                    )));
                }
                if secret.is_empty() {
                    return Err(GuardBuildError::invalid_key("the HMAC secret is empty"));
                }
                let min = min_hmac_secret_len(alg);
                if secret.len() < min {
                    if !allow_short_hmac_secret {
                        return Err(GuardBuildError::ShortHmacSecret {
                            alg,
                            len: secret.len(),
                            min,
                        });
                    }
                    tracing::warn!(
                        ?alg,
                        min,
                        "a short HMAC secret is trusted (dangerous_allow_short_hmac_secret): tokens can be forged by guessing it"
                    );
                }
                Ok(TrustedKey {
                    kid: None,
                    alg,
                    key: DecodingKey::from_secret(&secret),
                })
            }
            Self::Pem(alg, pem, kid) => {
                let key = match alg.family() {
                    AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                    AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
                    AlgorithmFamily::Ed => DecodingKey::from_ed_pem(&pem),
                    AlgorithmFamily::Hmac => {
                        return Err(GuardBuildError::invalid_key(
                            "HMAC algorithms take a secret (hmac_secret), not a PEM key",
                        ));
                    }
                }
                .map_err(|e| {
                    GuardBuildError::invalid_key_with(format!("the {alg:?} PEM key is invalid"), e)
                })?;
                Ok(TrustedKey { kid, alg, key })
            }
            Self::Jwk(jwk) => key_from_jwk(&jwk, true).map_err(|reason| {
                GuardBuildError::invalid_key(format!("the JWK is not usable: {reason}"))
            }),
        }
    }
}

/// Why a JWK was not turned into a trusted key.
pub(crate) type SkipReason = &'static str;

/// The algorithm a JWK may verify, from its `alg` or, without one, from its key type.
pub(crate) fn key_from_jwk(jwk: &Jwk, allow_symmetric: bool) -> Result<TrustedKey, SkipReason> {
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err("the key is not for signatures");
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("the key's key_ops do not include verify");
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err("unsupported elliptic curve"),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => Algorithm::EdDSA,
            _ => return Err("unsupported octet key pair curve"),
        },
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::OctetKey(_) => {
            if !allow_symmetric {
                return Err("symmetric keys are not accepted from a key set");
            }
            Algorithm::HS256
        }
        _ => return Err("unsupported key type"),
    };
    let alg = match jwk.common.key_algorithm {
        None => implied,
        Some(declared) => {
            let alg = Algorithm::try_from(declared).map_err(|_| "unsupported key algorithm")?;
            // The declared alg must fit the key material (an RSA key cannot be "HS256").
            let fits = match implied.family() {
                AlgorithmFamily::Ec => alg == implied,
                family => alg.family() == family,
            };
            if !fits {
                return Err("the key's alg does not match its key type");
            }
            alg
        }
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "the key material is malformed")?;
    Ok(TrustedKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

/// A set of trusted keys.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyRing {
    pub(crate) keys: Vec<TrustedKey>,
}

impl KeyRing {
    /// Converts a key set, skipping (and logging) keys that cannot be trusted.
    pub(crate) fn from_jwk_set(set: &JwkSet, origin: &str) -> Self {
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| match key_from_jwk(jwk, false) {
                Ok(key) => Some(key),
                Err(reason) => {
                    tracing::warn!(origin, kid = ?jwk.common.key_id, reason, "skipping a published key");
                    None
                }
            })
            .collect();
        Self { keys }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// At most this many keys are tried for one token without a usable `kid`.
const MAX_CANDIDATES: usize = 4;

/// Picks the keys that may verify a token with `kid` and `alg`, across `rings` in order.
///
/// A `kid` found anywhere wins, and its key's algorithm must equal `alg`. Otherwise keys
/// configured without a `kid` (or, for a token without `kid`, any key) whose algorithm is
/// `alg` are candidates.
pub(crate) fn candidates<'a>(
    rings: &[&'a KeyRing],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Vec<&'a TrustedKey>, TokenRejection> {
    if let Some(kid) = kid {
        for ring in rings {
            if let Some(key) = ring.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                return if key.alg == alg {
                    Ok(vec![key])
                } else {
                    Err(TokenRejection::AlgorithmMismatch)
                };
            }
        }
    }
    let mut any_key = false;
    let found: Vec<_> = rings
        .iter()
        .flat_map(|ring| ring.keys.iter())
        .filter(|k| kid.is_none() || k.kid.is_none())
        .inspect(|_| any_key = true)
        .filter(|k| k.alg == alg)
        .take(MAX_CANDIDATES)
        .collect();
    if !found.is_empty() {
        Ok(found)
    } else if any_key && kid.is_none() {
        Err(TokenRejection::AlgorithmMismatch)
    } else {
        Err(TokenRejection::UnknownKey)
    }
}

/// Keys from an in-process [`KeySource`], converted once per distinct set.
#[derive(Debug)]
pub(crate) struct SourceKeys {
    source: Arc<dyn KeySource>,
    converted: RwLock<(Arc<JwkSet>, Arc<KeyRing>)>,
}

impl SourceKeys {
    pub(crate) fn new(source: Arc<dyn KeySource>) -> Self {
        let set = source.jwk_set();
        let ring = Arc::new(KeyRing::from_jwk_set(&set, "key source"));
        Self {
            source,
            converted: RwLock::new((set, ring)),
        }
    }

    /// The current ring, and whether it changed since the last call.
    pub(crate) fn ring(&self) -> (Arc<KeyRing>, bool) {
        let set = self.source.jwk_set();
        {
            let converted = self
                .converted
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if Arc::ptr_eq(&converted.0, &set) || *converted.0 == *set {
                return (Arc::clone(&converted.1), false);
            }
        }
        let ring = Arc::new(KeyRing::from_jwk_set(&set, "key source"));
        *self
            .converted
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (set, Arc::clone(&ring));
        (ring, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn okp(kid: Option<&str>, alg: Option<&str>) -> Jwk {
        let mut json = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        });
        if let Some(kid) = kid {
            json["kid"] = kid.into();
        }
        if let Some(alg) = alg {
            json["alg"] = alg.into();
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_algorithm_comes_from_the_key_type_when_alg_is_absent() {
        let key = key_from_jwk(&okp(Some("a"), None), false).unwrap();
        assert_eq!(key.alg, Algorithm::EdDSA);
    }

    #[test]
    fn a_declared_alg_must_fit_the_key_type() {
        assert!(key_from_jwk(&okp(None, Some("HS256")), false).is_err());
        assert!(key_from_jwk(&okp(None, Some("RS256")), false).is_err());
        assert!(key_from_jwk(&okp(None, Some("EdDSA")), false).is_ok());
    }

    #[test]
    fn symmetric_keys_are_refused_from_key_sets() {
        let oct: Jwk =
            serde_json::from_value(serde_json::json!({"kty":"oct","k":"c2VjcmV0"})).unwrap();
        assert!(key_from_jwk(&oct, false).is_err());
        assert_eq!(key_from_jwk(&oct, true).unwrap().alg, Algorithm::HS256);
    }

    #[test]
    fn hmac_secrets_shorter_than_the_hash_are_refused_unless_allowed() {
        for (alg, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let short = PendingKey::Hmac(alg, vec![7; min - 1]);
            assert!(matches!(
                short.convert(false),
                Err(GuardBuildError::ShortHmacSecret { len, .. }) if len == min - 1
            ));
            assert!(
                PendingKey::Hmac(alg, vec![7; min - 1])
                    .convert(true)
                    .is_ok()
            );
            assert!(PendingKey::Hmac(alg, vec![7; min]).convert(false).is_ok());
        }
        assert!(
            PendingKey::Hmac(Algorithm::HS256, Vec::new())
                .convert(true)
                .is_err()
        );
        assert!(
            PendingKey::Hmac(Algorithm::RS256, vec![7; 64])
                .convert(false)
                .is_err()
        );
    }

    #[test]
    fn encryption_keys_are_skipped() {
        let mut jwk = okp(None, None);
        jwk.common.public_key_use = Some(PublicKeyUse::Encryption);
        assert!(key_from_jwk(&jwk, false).is_err());
    }

    #[test]
    fn a_known_kid_with_another_alg_is_a_mismatch() {
        let ring = KeyRing {
            keys: vec![key_from_jwk(&okp(Some("a"), None), false).unwrap()],
        };
        assert_eq!(
            candidates(&[&ring], Some("a"), Algorithm::HS256).unwrap_err(),
            TokenRejection::AlgorithmMismatch
        );
        assert_eq!(
            candidates(&[&ring], Some("a"), Algorithm::EdDSA)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            candidates(&[&ring], Some("b"), Algorithm::EdDSA).unwrap_err(),
            TokenRejection::UnknownKey
        );
        assert_eq!(
            candidates(&[&ring], None, Algorithm::EdDSA).unwrap().len(),
            1
        );
    }
}

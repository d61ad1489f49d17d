//! Signing keys, the key ring with rotation, and the JWKS it publishes.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use sha2::{Digest, Sha256};

use crate::ConfigError;

/// The PKCS#8 v1 DER prefix of an Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The shortest HS256 secret [`SigningKey::hmac`] accepts, in bytes: the size of the
/// SHA-256 output (RFC 7518 section 3.2).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// The key the IAM signs tokens with.
///
/// Ed25519 (`EdDSA`) is the default: its public half is published in the JWKS, so
/// resource services can verify tokens without being able to mint them. HS256 with a
/// shared secret exists for compatibility with the original go-microservices project,
/// where every service shared one secret; the secret is never published.
///
/// `Debug` never shows key material.
#[derive(Clone)]
pub struct SigningKey {
    kind: KeyKind,
    encoding: EncodingKey,
    kid: String,
}

#[derive(Clone)]
enum KeyKind {
    Ed25519 { seed: [u8; 32], public: [u8; 32] },
    Hmac { secret: Vec<u8> },
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random Ed25519 key. Tokens it signs do not survive a restart unless the
    /// key is saved ([`to_pkcs8_pem`](Self::to_pkcs8_pem)) and loaded again.
    pub fn generate_ed25519() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        Self::ed25519_from_seed(seed)
    }

    /// The Ed25519 key with this 32-byte secret seed.
    pub fn ed25519_from_seed(seed: [u8; 32]) -> Self {
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&ED25519_PKCS8_PREFIX);
        der.extend_from_slice(&seed);
        let kid = ed25519_thumbprint(&URL_SAFE_NO_PAD.encode(public));
        Self {
            kind: KeyKind::Ed25519 { seed, public },
            encoding: EncodingKey::from_ed_der(&der),
            kid,
        }
    }

    /// An Ed25519 private key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as made
    /// by `openssl genpkey -algorithm ed25519` or [`to_pkcs8_pem`](Self::to_pkcs8_pem).
    pub fn from_pem(pem: &str) -> Result<Self, ConfigError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim()).map_err(|_| {
            ConfigError::Key("not an Ed25519 private key in PKCS#8 PEM form".to_owned())
        })?;
        Ok(Self::ed25519_from_seed(key.to_bytes()))
    }

    /// An Ed25519 private key from a JWK (`{"kty":"OKP","crv":"Ed25519","d":..,"x":..}`).
    pub fn from_jwk(json: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|_| ConfigError::Key("the JWK is not valid JSON".to_owned()))?;
        let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
            return Err(ConfigError::Key(
                "only Ed25519 private JWKs (kty OKP, crv Ed25519) are supported".to_owned(),
            ));
        }
        let d = field("d")
            .ok_or_else(|| ConfigError::Key("the JWK has no private part \"d\"".to_owned()))?;
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(d)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                ConfigError::Key("the JWK's \"d\" is not 32 base64url bytes".to_owned())
            })?;
        let key = Self::ed25519_from_seed(seed);
        if let Some(x) = field("x")
            && key.public_jwk().is_some_and(|jwk| !jwk_x_equals(&jwk, x))
        {
            return Err(ConfigError::Key(
                "the JWK's \"x\" does not match its \"d\"".to_owned(),
            ));
        }
        Ok(key)
    }

    /// A key from PEM or JWK text (a JWK starts with `{`).
    pub fn from_text(text: &str) -> Result<Self, ConfigError> {
        if text.trim_start().starts_with('{') {
            Self::from_jwk(text)
        } else {
            Self::from_pem(text)
        }
    }

    /// A key from a file holding a PEM or a JWK.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::Key(format!("cannot read key file {}: {e}", path.display()))
        })?;
        Self::from_text(&text)
    }

    /// A key from the environment variable `name` holding a PEM or a JWK; `Ok(None)` when
    /// the variable is not set.
    pub fn from_env(name: &str) -> Result<Option<Self>, ConfigError> {
        match std::env::var(name) {
            Ok(text) if !text.trim().is_empty() => Self::from_text(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// An HS256 key with a shared secret, where every service that verifies can also mint
    /// tokens. Prefer Ed25519. The secret is never published.
    ///
    /// A secret shorter than [`MIN_HMAC_SECRET_BYTES`] (32, the hash size, as RFC 7518
    /// section 3.2 requires) is refused with [`ConfigError::Key`]: anyone who can log in
    /// holds a signed token, and a short secret falls to an offline search.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(ConfigError::Key(format!(
                "the HS256 secret has {} bytes; at least {MIN_HMAC_SECRET_BYTES} are \
                 required (RFC 7518 section 3.2): use a longer random secret",
                secret.len()
            )));
        }
        Ok(Self::hmac_unchecked(secret))
    }

    /// Like [`hmac`](Self::hmac) but accepts a secret of any length, for tests and
    /// compatibility checks only. **Dangerous**: a short secret can be recovered from any
    /// issued token by an offline search, and then anyone can mint admin tokens. Logs a
    /// warning when the secret is short.
    pub fn hmac_allow_short_secret_dangerous(secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            tracing::warn!(
                bytes = secret.len(),
                "!!! using an HS256 secret shorter than {MIN_HMAC_SECRET_BYTES} bytes: \
                 tokens can be forged after an offline search. Tests only !!!"
            );
        }
        Self::hmac_unchecked(secret)
    }

    fn hmac_unchecked(secret: &[u8]) -> Self {
        Self {
            kind: KeyKind::Hmac {
                secret: secret.to_vec(),
            },
            encoding: EncodingKey::from_secret(secret),
            kid: String::new(),
        }
    }

    /// The JWS algorithm: `EdDSA` or `HS256`.
    pub fn algorithm(&self) -> Algorithm {
        match self.kind {
            KeyKind::Ed25519 { .. } => Algorithm::EdDSA,
            KeyKind::Hmac { .. } => Algorithm::HS256,
        }
    }

    /// The key id: the RFC 7638 thumbprint of the public JWK (empty for HS256).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK to publish, or `None` for an HMAC key (whose secret must never be
    /// published).
    pub fn public_jwk(&self) -> Option<Jwk> {
        match &self.kind {
            KeyKind::Ed25519 { public, .. } => Some(Jwk {
                common: CommonParameters {
                    public_key_use: Some(PublicKeyUse::Signature),
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    key_id: Some(self.kid.clone()),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(public),
                }),
            }),
            KeyKind::Hmac { .. } => None,
        }
    }

    /// The Ed25519 private key as PKCS#8 PEM, to save it so that other instances (or the
    /// next start) sign with the same key. `None` for an HMAC key.
    pub fn to_pkcs8_pem(&self) -> Option<String> {
        match &self.kind {
            KeyKind::Ed25519 { seed, .. } => {
                let mut der = ED25519_PKCS8_PREFIX.to_vec();
                der.extend_from_slice(seed);
                Some(format!(
                    "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                    STANDARD.encode(der)
                ))
            }
            KeyKind::Hmac { .. } => None,
        }
    }

    pub(crate) fn hmac_secret(&self) -> Option<&[u8]> {
        match &self.kind {
            KeyKind::Hmac { secret } => Some(secret),
            KeyKind::Ed25519 { .. } => None,
        }
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

fn jwk_x_equals(jwk: &Jwk, x: &str) -> bool {
    matches!(&jwk.algorithm, AlgorithmParameters::OctetKeyPair(p) if p.x == x)
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 public key given as its
/// base64url `x`: the hash of `{"crv":"Ed25519","kty":"OKP","x":"..."}`.
fn ed25519_thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The signing key in force plus the public keys of earlier ones, kept in the JWKS until
/// every token they signed has expired. Cheap to clone (shared).
///
/// It implements the resource guard's `KeySource`, so the IAM verifies its own tokens
/// without HTTP.
#[derive(Clone)]
pub struct KeyRing {
    state: Arc<RwLock<RingState>>,
}

struct RingState {
    current: Arc<SigningKey>,
    /// When `current` started signing, in Unix seconds (the key-age metric).
    current_since: u64,
    /// Public keys of former signing keys, each with the Unix second after which no token
    /// it signed is still valid.
    retired: Vec<(Jwk, u64)>,
    jwks: Arc<JwkSet>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("KeyRing")
            .field("current", &state.current)
            .field("retired", &state.retired.len())
            .finish()
    }
}

impl KeyRing {
    /// A ring whose only key is `current`.
    pub fn new(current: SigningKey) -> Self {
        let mut state = RingState {
            current: Arc::new(current),
            current_since: unix_now(),
            retired: Vec::new(),
            jwks: Arc::default(),
        };
        state.rebuild();
        Self {
            state: Arc::new(RwLock::new(state)),
        }
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> Arc<SigningKey> {
        Arc::clone(&self.read().current)
    }

    /// Makes `next` the signing key. The former key's public half stays published for
    /// `keep_for` (give the token lifetime plus the verifiers' leeway), so tokens it signed
    /// stay valid until they expire.
    pub fn rotate(&self, next: SigningKey, keep_for: Duration) {
        self.rotate_at(next, keep_for, unix_now());
    }

    /// Publishes the public half of `previous` (not signing with it) for `keep_for`: for a
    /// key that signed before a restart.
    pub fn keep_previous(&self, previous: &SigningKey, keep_for: Duration) {
        if let Some(jwk) = previous.public_jwk() {
            let mut state = self.write();
            state
                .retired
                .push((jwk, unix_now().saturating_add(keep_for.as_secs())));
            state.rebuild();
        }
    }

    pub(crate) fn rotate_at(&self, next: SigningKey, keep_for: Duration, now: u64) {
        let mut state = self.write();
        let former = std::mem::replace(&mut state.current, Arc::new(next));
        state.current_since = now;
        if let Some(jwk) = former.public_jwk() {
            state
                .retired
                .push((jwk, now.saturating_add(keep_for.as_secs())));
        }
        state.prune(now);
        state.rebuild();
    }

    /// The public keys (JWKS): the current one (unless HMAC) and the retired ones whose
    /// tokens may still be valid.
    pub fn jwks(&self) -> Arc<JwkSet> {
        self.jwks_at(unix_now())
    }

    pub(crate) fn jwks_at(&self, now: u64) -> Arc<JwkSet> {
        {
            let state = self.read();
            if state.retired.iter().all(|(_, until)| *until > now) {
                return Arc::clone(&state.jwks);
            }
        }
        let mut state = self.write();
        state.prune(now);
        state.rebuild();
        Arc::clone(&state.jwks)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, RingState> {
        // The state is replaced in whole values only, so a poisoned lock is still sound.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RingState> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl portcullis_resource_guard::KeySource for KeyRing {
    fn jwk_set(&self) -> Arc<JwkSet> {
        self.jwks()
    }
}

impl RingState {
    fn prune(&mut self, now: u64) {
        self.retired.retain(|(_, until)| *until > now);
    }

    fn rebuild(&mut self) {
        let current_kid = self.current.kid().to_owned();
        let mut keys: Vec<Jwk> = self.current.public_jwk().into_iter().collect();
        for (jwk, _) in &self.retired {
            let kid = jwk.common.key_id.as_deref().unwrap_or_default();
            if kid != current_kid && !keys.iter().any(|k| k.common.key_id == jwk.common.key_id) {
                keys.push(jwk.clone());
            }
        }
        crate::metrics::keys(keys.len(), self.current_since);
        self.jwks = Arc::new(JwkSet { keys });
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037, appendix A.3.
        assert_eq!(
            ed25519_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc_8037_private_jwk_loads_with_its_thumbprint() {
        let key = SigningKey::from_jwk(
            r#"{"kty":"OKP","crv":"Ed25519",
                "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
                "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        )
        .unwrap();
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(key.algorithm(), Algorithm::EdDSA);
    }

    #[test]
    fn a_jwk_whose_x_does_not_match_is_refused() {
        let err = SigningKey::from_jwk(
            r#"{"kty":"OKP","crv":"Ed25519",
                "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
                "x":"AAAAAKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        );
        assert!(err.is_err());
    }

    #[test]
    fn pem_round_trips() {
        let key = SigningKey::generate_ed25519();
        let pem = key.to_pkcs8_pem().unwrap();
        let again = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SigningKey::ed25519_from_seed([7; 32]);
        let pem = key.to_pkcs8_pem().unwrap();
        let debug = format!("{key:?} {:?}", KeyRing::new(key.clone()));
        let body = pem.lines().nth(1).unwrap();
        assert!(!debug.contains(body));
        assert!(
            !format!(
                "{:?}",
                SigningKey::hmac_allow_short_secret_dangerous("super-secret-value")
            )
            .contains("super-secret")
        );
    }

    #[test]
    fn hmac_secrets_under_32_bytes_are_refused() {
        let err = SigningKey::hmac("secret").unwrap_err();
        assert!(matches!(err, ConfigError::Key(_)), "{err:?}");
        assert!(err.to_string().contains("32"), "{err}");
        assert!(SigningKey::hmac([7u8; 31]).is_err());
        assert!(SigningKey::hmac([7u8; 32]).is_ok());
        assert_eq!(
            SigningKey::hmac_allow_short_secret_dangerous("secret").algorithm(),
            Algorithm::HS256
        );
    }

    #[test]
    fn hmac_keys_are_never_published() {
        let ring = KeyRing::new(SigningKey::hmac([1u8; 32]).unwrap());
        assert!(ring.jwks().keys.is_empty());
    }

    #[test]
    fn rotation_keeps_the_former_key_until_its_tokens_expire() {
        let first = SigningKey::generate_ed25519();
        let second = SigningKey::generate_ed25519();
        let ring = KeyRing::new(first.clone());
        ring.rotate_at(second.clone(), Duration::from_secs(3600), 1_000);
        assert_eq!(ring.current().kid(), second.kid());
        let kids = |now| -> Vec<String> {
            ring.jwks_at(now)
                .keys
                .iter()
                .filter_map(|k| k.common.key_id.clone())
                .collect()
        };
        assert_eq!(
            kids(4_599),
            vec![second.kid().to_owned(), first.kid().to_owned()]
        );
        assert_eq!(kids(4_600), vec![second.kid().to_owned()]);
    }
}

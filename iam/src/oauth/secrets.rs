//! Client secrets and refresh tokens: made from 256 random bits, stored as a keyed hash,
//! compared in constant time.
//!
//! A fast keyed hash (HMAC-SHA-256, RFC 2104) is the right tool here: the values are
//! random, so there is nothing to guess that a slow password hash would protect, and a
//! lookup by hash (refresh tokens) needs a deterministic one. The key keeps a copy of the
//! database alone from being enough to test candidate values.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::password::base64_url;
use crate::{ConfigError, IamError};

/// The shortest hash key accepted, in bytes: the size of the SHA-256 output, as for HS256
/// secrets (RFC 2104 section 3 recommends at least the hash output length).
pub(crate) const MIN_HASH_KEY_BYTES: usize = 32;

/// Random bytes in a secret or refresh token: 256 bits.
const SECRET_BYTES: usize = 32;

/// What a hash is for, so that a client-secret hash never matches as a refresh-token hash.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose<'a> {
    /// The secret of the client with this id.
    ClientSecret(&'a str),
    /// A refresh token.
    RefreshToken,
}

/// Hashes secrets with the deployment's key. `Debug` never shows the key.
#[derive(Clone)]
pub(crate) struct SecretHasher {
    key: Vec<u8>,
    /// The hash an unknown client's presented secret is compared against, so that an
    /// unknown client costs the same work as a wrong secret.
    dummy: String,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHasher").finish_non_exhaustive()
    }
}

impl SecretHasher {
    pub(crate) fn new(key: Vec<u8>) -> Result<Self, ConfigError> {
        if key.len() < MIN_HASH_KEY_BYTES {
            return Err(ConfigError::Key(format!(
                "the OAuth hash key has {} bytes; at least {MIN_HASH_KEY_BYTES} are required",
                key.len()
            )));
        }
        let mut hasher = Self {
            key,
            dummy: String::new(),
        };
        let dummy_secret = new_secret().map_err(|e| ConfigError::Key(e.to_string()))?;
        hasher.dummy = hasher.hash(Purpose::ClientSecret(""), &dummy_secret);
        Ok(hasher)
    }

    /// A random key, for a deployment that configured none.
    pub(crate) fn random_key() -> Result<Vec<u8>, ConfigError> {
        let mut key = vec![0u8; MIN_HASH_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| ConfigError::Key(e.to_string()))?;
        Ok(key)
    }

    /// The keyed hash of `secret` for `purpose`, in hexadecimal.
    pub(crate) fn hash(&self, purpose: Purpose<'_>, secret: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        match purpose {
            Purpose::ClientSecret(client_id) => {
                mac.update(b"client-secret\0");
                mac.update(client_id.as_bytes());
                mac.update(b"\0");
            }
            Purpose::RefreshToken => mac.update(b"refresh-token\0"),
        }
        mac.update(secret.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Whether `secret` is the one behind `stored` (the client's hash, or `None` for an
    /// unknown client, which never matches but costs the same). Constant time.
    pub(crate) fn verify_client_secret(
        &self,
        client_id: &str,
        secret: &str,
        stored: Option<&str>,
    ) -> bool {
        let computed = self.hash(Purpose::ClientSecret(client_id), secret);
        let expected = stored.unwrap_or(&self.dummy);
        let equal: bool = computed.as_bytes().ct_eq(expected.as_bytes()).into();
        equal && stored.is_some()
    }
}

/// A new secret or refresh token: 256 random bits, base64url (43 characters).
pub(crate) fn new_secret() -> Result<String, IamError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| IamError::Token(Box::new(e)))?;
    Ok(base64_url(&bytes))
}

/// A new random identifier (128 bits, base64url), e.g. a refresh-token family.
pub(crate) fn new_id() -> Result<String, IamError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| IamError::Token(Box::new(e)))?;
    Ok(base64_url(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> SecretHasher {
        SecretHasher::new(vec![7; 32]).unwrap()
    }

    #[test]
    fn secrets_are_256_random_bits() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn a_secret_verifies_for_its_client_only() {
        let hasher = hasher();
        let stored = hasher.hash(Purpose::ClientSecret("app"), "s3cret");
        assert!(!stored.contains("s3cret"));
        assert!(hasher.verify_client_secret("app", "s3cret", Some(&stored)));
        assert!(!hasher.verify_client_secret("app", "s3cres", Some(&stored)));
        assert!(!hasher.verify_client_secret("other", "s3cret", Some(&stored)));
        assert!(!hasher.verify_client_secret("app", "s3cret", None));
    }

    #[test]
    fn the_key_and_the_purpose_change_the_hash() {
        let other = SecretHasher::new(vec![8; 32]).unwrap();
        let purpose = Purpose::RefreshToken;
        assert_ne!(hasher().hash(purpose, "t"), other.hash(purpose, "t"));
        assert_ne!(
            hasher().hash(purpose, "t"),
            hasher().hash(Purpose::ClientSecret(""), "t")
        );
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(matches!(
            SecretHasher::new(vec![1; 31]),
            Err(ConfigError::Key(_))
        ));
    }
}

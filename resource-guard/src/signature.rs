//! Checking a token's signature against the keys chosen for it.

use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;

use crate::error::TokenRejection;
use crate::keys::TrustedKey;
use crate::token::Parts;

/// `Ok` when one of `candidates` (each bound to `alg`) verifies the signature.
pub(crate) fn verify(
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

//! The JOSE header: parsed as `jsonwebtoken`'s [`Header`], then held to the checks that
//! are stricter than `jsonwebtoken`'s own.
//!
//! `jsonwebtoken::decode` takes any `typ`, any `kid`, and ignores `crit`, `jku`, `x5u`,
//! `jwk` and `x5c`. The guard refuses a `crit` it cannot understand (RFC 7515 section
//! 4.1.11), never takes a key or key URL from a token, applies a [`TypPolicy`], and
//! accepts only short, plain key ids. Binding the algorithm to the key is done where the
//! key is chosen ([`crate::keys::candidates`]).
//!
//! As `jsonwebtoken` reads it, a key member whose value is `null` is absent: it carries
//! no key, so nothing is taken from the token. Any other value, well-formed or not, is
//! refused.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};

use crate::error::TokenRejection;

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

/// A header that passed every check: what key selection needs.
#[derive(Debug)]
pub(crate) struct CheckedHeader {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

/// Decodes and checks the header segment of a token.
pub(crate) fn check(segment: &str, typ_policy: TypPolicy) -> Result<CheckedHeader, TokenRejection> {
    let json = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenRejection::Malformed)?;
    if json.first() != Some(&b'{') {
        return Err(TokenRejection::MalformedHeader);
    }
    let header: Header = serde_json::from_slice(&json).map_err(|_| why_unparsable(&json))?;
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some()
    {
        return Err(TokenRejection::EmbeddedKey);
    }
    if header.crit.is_some() {
        return Err(TokenRejection::UnknownCritical);
    }
    if !typ_policy.accepts(header.typ.as_deref()) {
        return Err(TokenRejection::WrongType);
    }
    if header.kid.as_deref().is_some_and(|kid| !valid_kid(kid)) {
        return Err(TokenRejection::MalformedKeyId);
    }
    Ok(CheckedHeader {
        alg: header.alg,
        kid: header.kid,
    })
}

/// The most telling reason a header JSON object did not parse as a [`Header`]: an
/// unknown `alg` (`none` in any spelling), a key or `crit` member of an odd type, or
/// else a malformed header. Only rejected tokens come here.
fn why_unparsable(json: &[u8]) -> TokenRejection {
    let Ok(serde_json::Value::Object(members)) = serde_json::from_slice(json) else {
        return TokenRejection::MalformedHeader;
    };
    match members.get("alg").and_then(serde_json::Value::as_str) {
        None => return TokenRejection::MalformedHeader,
        // Exact, case-sensitive names (RFC 7518): `None`, `NONE` and friends fail here.
        Some(name) if Algorithm::from_str(name).is_err() => {
            return TokenRejection::UnsupportedAlgorithm;
        }
        Some(_) => {}
    }
    if ["jku", "x5u", "jwk", "x5c"]
        .iter()
        .any(|name| members.contains_key(*name))
    {
        TokenRejection::EmbeddedKey
    } else if members.contains_key("crit") {
        TokenRejection::UnknownCritical
    } else {
        TokenRejection::MalformedHeader
    }
}

/// A key id is 1 to 256 characters a key id plausibly has; quotes, spaces, control
/// characters and the like never reach a log line or a key lookup.
fn valid_kid(kid: &str) -> bool {
    (1..=256).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

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
            let header = segment(&format!(r#"{{"alg":"{name}"}}"#));
            assert_eq!(
                check(&header, TypPolicy::Lenient).unwrap_err(),
                TokenRejection::UnsupportedAlgorithm,
                "{name}"
            );
        }
    }

    #[test]
    fn a_header_without_alg_or_with_odd_members_is_malformed() {
        for json in [
            r#"{"typ":"JWT"}"#,
            r#"{"alg":5}"#,
            r#"{"alg":"HS256","kid":7}"#,
        ] {
            assert_eq!(
                check(&segment(json), TypPolicy::Lenient).unwrap_err(),
                TokenRejection::MalformedHeader,
                "{json}"
            );
        }
    }

    #[test]
    fn crit_and_embedded_keys_are_refused_whatever_their_type() {
        for (json, reason) in [
            (
                r#"{"alg":"HS256","crit":"x"}"#,
                TokenRejection::UnknownCritical,
            ),
            (
                r#"{"alg":"HS256","crit":[]}"#,
                TokenRejection::UnknownCritical,
            ),
            (
                r#"{"alg":"HS256","jwk":{"kty":"?"}}"#,
                TokenRejection::EmbeddedKey,
            ),
            (
                r#"{"alg":"HS256","x5c":"MIIB"}"#,
                TokenRejection::EmbeddedKey,
            ),
            (
                r#"{"alg":"HS256","jku":"http://x"}"#,
                TokenRejection::EmbeddedKey,
            ),
        ] {
            assert_eq!(
                check(&segment(json), TypPolicy::Lenient).unwrap_err(),
                reason,
                "{json}"
            );
        }
    }

    #[test]
    fn a_clean_header_gives_its_alg_and_kid() {
        let header = check(
            &segment(r#"{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}"#),
            TypPolicy::Strict,
        )
        .unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn key_ids_with_path_or_injection_text_are_refused() {
        assert!(valid_kid("Dn7cvZ0Nz8jQ-4fw_aX9"));
        assert!(valid_kid("../../etc/passwd"));
        for bad in ["' OR 1=1 --", "a\"b", "a\\b", "a b", "", &"k".repeat(257)] {
            assert!(!valid_kid(bad), "{bad}");
        }
    }
}

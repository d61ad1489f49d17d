//! The issuers of a built guard, each with its claim rules and keys, and the routing of a
//! token to one of them by its `iss`.
//!
//! `iss` is the one claim read before the signature is checked, and only to pick the
//! issuer: the token is then verified with that issuer's keys alone, and all its claims,
//! `iss` again included, are parsed and checked only once the signature holds. A token of
//! an issuer not trusted is refused before any key is looked up, so it can never make
//! the guard fetch anything.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::error::TokenRejection;
use crate::jwks::JwksKeys;
use crate::keys::{KeyRing, SourceKeys};
use crate::validation::ClaimRules;

/// One trusted issuer: what its tokens must satisfy and the keys that verify them.
pub(crate) struct IssuerKeys {
    pub(crate) rules: ClaimRules,
    pub(crate) static_keys: KeyRing,
    pub(crate) jwks: Option<Arc<JwksKeys>>,
    pub(crate) source: Option<SourceKeys>,
}

impl fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.rules.issuer)
            .field("audience", &self.rules.audience)
            .field("static_keys", &self.static_keys)
            .field("jwks", &self.jwks)
            .field("key_source", &self.source)
            .finish()
    }
}

/// The index of the issuer a token's payload names, read without trusting the payload.
///
/// The payload must be a JSON object whose `iss`, if any, is a string; a repeated `iss`
/// is refused (serde rejects duplicated fields), so the issuer picked here is the one the
/// claim checks see after the signature.
pub(crate) fn route(issuers: &[IssuerKeys], payload: &[u8]) -> Result<usize, TokenRejection> {
    #[derive(Deserialize)]
    struct Iss {
        #[serde(default)]
        iss: Option<String>,
    }
    if payload.first() != Some(&b'{') {
        return Err(TokenRejection::MalformedClaims);
    }
    let Iss { iss } =
        serde_json::from_slice(payload).map_err(|_| TokenRejection::MalformedClaims)?;
    let iss = iss.ok_or(TokenRejection::WrongIssuer)?;
    issuers
        .iter()
        .position(|issuer| issuer.rules.issuer == iss)
        .ok_or(TokenRejection::WrongIssuer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(name: &str) -> IssuerKeys {
        IssuerKeys {
            rules: ClaimRules {
                issuer: name.to_owned(),
                audience: None,
                leeway: 0,
            },
            static_keys: KeyRing::default(),
            jwks: None,
            source: None,
        }
    }

    #[test]
    fn tokens_are_routed_by_their_exact_iss() {
        let issuers = [issuer("a"), issuer("https://b.example")];
        assert_eq!(route(&issuers, br#"{"iss":"a","exp":1}"#), Ok(0));
        assert_eq!(route(&issuers, br#"{"iss":"https://b.example"}"#), Ok(1));
        for unknown in [
            &br#"{"iss":"A"}"#[..],
            br#"{"iss":"https://b.example/"}"#,
            br#"{"sub":"x"}"#,
        ] {
            assert_eq!(route(&issuers, unknown), Err(TokenRejection::WrongIssuer));
        }
        for malformed in [
            &br#"{"iss":"a","iss":"https://b.example"}"#[..],
            br#"{"iss":["a"]}"#,
            br#"["a"]"#,
            b"{",
        ] {
            assert_eq!(
                route(&issuers, malformed),
                Err(TokenRejection::MalformedClaims)
            );
        }
    }
}

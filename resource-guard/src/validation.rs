//! The claim checks: `iss`, `aud`, `exp`, `nbf` and `iat` against the configured rules.
//!
//! `jsonwebtoken::Validation` is not used: its checks run only inside
//! `jsonwebtoken::decode` (which would parse the token a second time), read the system
//! clock rather than an injectable one, and do not check `iat`. The rules here also
//! take time claims only as integers in range (see [`TimeClaim`]).

use crate::claims::{Claims, RawClaims, TimeClaim};
use crate::error::{GuardError, TokenRejection};

/// What every token's claims must satisfy.
#[derive(Debug)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: String,
    pub(crate) audience: Option<String>,
    /// Clock skew allowed on the time claims, in seconds.
    pub(crate) leeway: u64,
}

impl ClaimRules {
    /// Checks `raw` at `now` (Unix seconds) and returns its claims and when the token
    /// dies (`exp` plus the leeway).
    pub(crate) fn check(&self, raw: RawClaims, now: u64) -> Result<(Claims, u64), GuardError> {
        let reject = GuardError::InvalidToken;
        if raw.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(reject(TokenRejection::WrongIssuer));
        }
        match (&self.audience, &raw.aud) {
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
        let expires_at = exp.saturating_add(self.leeway);
        if now > expires_at {
            return Err(GuardError::ExpiredToken);
        }
        let latest_start = now.saturating_add(self.leeway);
        if matches!(raw.nbf, TimeClaim::Valid(nbf) if nbf > latest_start) {
            return Err(reject(TokenRejection::NotYetValid));
        }
        if matches!(raw.iat, TimeClaim::Valid(iat) if iat > latest_start) {
            return Err(reject(TokenRejection::IssuedInFuture));
        }
        Ok((raw.into_claims(exp), expires_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "i".into(),
            audience: Some("a".into()),
            leeway: 60,
        }
    }

    fn check(json: &str, now: u64) -> Result<u64, GuardError> {
        let raw = RawClaims::parse(json.as_bytes()).unwrap();
        rules().check(raw, now).map(|(_, expires_at)| expires_at)
    }

    #[test]
    fn a_token_lives_until_exp_plus_the_leeway() {
        let json = r#"{"iss":"i","aud":"a","exp":1000}"#;
        assert_eq!(check(json, 1060).unwrap(), 1060);
        assert!(matches!(check(json, 1061), Err(GuardError::ExpiredToken)));
    }

    #[test]
    fn issuer_audience_and_times_are_checked() {
        let reason = |json: &str| check(json, 1000).unwrap_err().rejection();
        assert_eq!(
            reason(r#"{"iss":"I","aud":"a","exp":2000}"#),
            Some(TokenRejection::WrongIssuer)
        );
        assert_eq!(
            reason(r#"{"iss":"i","exp":2000}"#),
            Some(TokenRejection::WrongAudience)
        );
        assert_eq!(
            reason(r#"{"iss":"i","aud":"a"}"#),
            Some(TokenRejection::MissingExpiry)
        );
        assert_eq!(
            reason(r#"{"iss":"i","aud":"a","exp":2000,"nbf":1061}"#),
            Some(TokenRejection::NotYetValid)
        );
        assert_eq!(
            reason(r#"{"iss":"i","aud":"a","exp":2000,"iat":1061}"#),
            Some(TokenRejection::IssuedInFuture)
        );
        assert_eq!(
            reason(r#"{"iss":"i","aud":"a","exp":2000,"iat":"1"}"#),
            Some(TokenRejection::MalformedTime)
        );
    }
}

//! [`GuardError`], why a request was refused, and its RFC 6750 responses.

use std::fmt::{self, Write as _};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use portcullis_response::{ApiError, ErrorCode};

/// Why a bearer token was rejected.
///
/// Every reason maps to `401` with `WWW-Authenticate: Bearer error="invalid_token"` and
/// the [description](Self::description) as `error_description`. The descriptions are
/// fixed strings: they never echo the token or any value taken from it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenRejection {
    /// The token is longer than the configured size cap.
    TooLarge,
    /// Not three base64url segments separated by dots (or characters outside base64url).
    Malformed,
    /// The header is not valid base64url-encoded JSON, or a member has the wrong type.
    MalformedHeader,
    /// The `alg` is not one this crate verifies (`none` in any spelling included).
    UnsupportedAlgorithm,
    /// The `alg` differs from the algorithm bound to the key the token names.
    AlgorithmMismatch,
    /// The `kid` is too long or holds characters a key id never has.
    MalformedKeyId,
    /// No trusted key matches the token's `kid` (or, without `kid`, its `alg`).
    UnknownKey,
    /// The header carries `jku`, `x5u`, `jwk` or `x5c`: keys are never taken from a token.
    EmbeddedKey,
    /// The header has a `crit` member; no extension is understood.
    UnknownCritical,
    /// The `typ` header is not accepted by the [`TypPolicy`](crate::TypPolicy).
    WrongType,
    /// The signature does not verify (a forged, tampered or mis-signed token).
    BadSignature,
    /// The payload is not a JSON object of well-typed claims.
    MalformedClaims,
    /// `exp` is absent.
    MissingExpiry,
    /// `exp`, `nbf` or `iat` is not a whole number of seconds in range.
    MalformedTime,
    /// `iss` is absent or differs from the configured issuer.
    WrongIssuer,
    /// `aud` is absent, or does not name the configured audience, or names one while
    /// no audience is configured.
    WrongAudience,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
}

impl TokenRejection {
    /// The fixed, safe `error_description` for this reason.
    pub const fn description(self) -> &'static str {
        match self {
            Self::TooLarge => "The token is too large",
            Self::Malformed => "The token is malformed",
            Self::MalformedHeader => "The token header is malformed",
            Self::UnsupportedAlgorithm => "The token algorithm is not supported",
            Self::AlgorithmMismatch => "The token algorithm does not match its key",
            Self::MalformedKeyId => "The token key id is malformed",
            Self::UnknownKey => "The token is signed by an unknown key",
            Self::EmbeddedKey => "The token header carries a key or key URL",
            Self::UnknownCritical => "The token has an unsupported critical header",
            Self::WrongType => "The token type is not accepted",
            Self::BadSignature => "The token signature is invalid",
            Self::MalformedClaims => "The token claims are malformed",
            Self::MissingExpiry => "The token has no expiry",
            Self::MalformedTime => "The token has a malformed time claim",
            Self::WrongIssuer => "The token issuer is not accepted",
            Self::WrongAudience => "The token audience is not accepted",
            Self::NotYetValid => "The token is not valid yet",
            Self::IssuedInFuture => "The token is issued in the future",
        }
    }
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// Why a request was refused. (A bad configuration is a
/// [`GuardBuildError`](crate::GuardBuildError), reported once by the builder.)
///
/// As a response (it implements [`IntoResponse`] and converts into [`ApiError`]) it follows
/// RFC 6750 section 3:
///
/// | variant | status | `WWW-Authenticate` | body `code` |
/// |---|---:|---|---:|
/// | [`MissingCredentials`](Self::MissingCredentials) | 401 | `Bearer` | 1004 |
/// | [`InvalidRequest`](Self::InvalidRequest) | 400 | `Bearer error="invalid_request", ...` | 1015 |
/// | [`InvalidToken`](Self::InvalidToken) | 401 | `Bearer error="invalid_token", ...` | 1005 |
/// | [`ExpiredToken`](Self::ExpiredToken) | 401 | `Bearer error="invalid_token", ...` | 1006 |
/// | [`InsufficientScope`](Self::InsufficientScope) | 403 | `Bearer error="insufficient_scope", ...` | 1007 |
/// | [`KeysUnavailable`](Self::KeysUnavailable) | 503 | none, `Retry-After` | 1011 |
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// No bearer credentials were sent (no `Authorization` header, or another scheme).
    #[error("no bearer token was sent")]
    MissingCredentials,
    /// The `Authorization` header is malformed (empty, repeated, or `Bearer` without a token).
    #[error("malformed authorization header: {0}")]
    InvalidRequest(&'static str),
    /// The token was rejected.
    #[error("invalid token: {0}")]
    InvalidToken(TokenRejection),
    /// The token's `exp` (plus the leeway) has passed.
    #[error("the token has expired")]
    ExpiredToken,
    /// The token is valid but lacks the role or scope the route needs.
    #[error("the token lacks the required {kind} `{required}`")]
    InsufficientScope {
        /// `"role"` or `"scope"`.
        kind: &'static str,
        /// The role or scope that was required.
        required: String,
    },
    /// No verification key could be loaded yet (the JWKS URL was never reachable).
    #[error("no verification keys are available yet")]
    KeysUnavailable,
}

impl GuardError {
    /// The HTTP status this error is sent with.
    pub fn status(&self) -> StatusCode {
        self.code().default_status()
    }

    /// The stable error code of the body.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MissingCredentials => ErrorCode::MissingCredentials,
            Self::InvalidRequest(_) => ErrorCode::BadRequest,
            Self::InvalidToken(_) => ErrorCode::InvalidToken,
            Self::ExpiredToken => ErrorCode::ExpiredToken,
            Self::InsufficientScope { .. } => ErrorCode::InsufficientRole,
            Self::KeysUnavailable => ErrorCode::UpstreamUnavailable,
        }
    }

    /// The rejection reason, for [`InvalidToken`](Self::InvalidToken).
    pub fn rejection(&self) -> Option<TokenRejection> {
        match self {
            Self::InvalidToken(reason) => Some(*reason),
            _ => None,
        }
    }

    /// The message sent in the body (and as `error_description`): fixed text, safe to show.
    pub fn message(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "Missing bearer token",
            Self::InvalidRequest(what) => what,
            Self::InvalidToken(reason) => reason.description(),
            Self::ExpiredToken => "The token has expired",
            Self::InsufficientScope { kind, .. } => {
                if *kind == "scope" {
                    "The token lacks the required scope"
                } else {
                    "The token lacks the required role"
                }
            }
            Self::KeysUnavailable => "Token verification keys are unavailable",
        }
    }

    /// The `WWW-Authenticate` challenge for this error, if it has one.
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        let mut value = String::from("Bearer");
        let mut sep = " ";
        if let Some(realm) = realm {
            let _ = write!(value, "{sep}realm=\"{}\"", quote_safe(realm));
            sep = ", ";
        }
        let error = match self {
            Self::MissingCredentials => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) | Self::ExpiredToken => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::KeysUnavailable => return None,
        };
        if let Some(error) = error {
            let _ = write!(
                value,
                "{sep}error=\"{error}\", error_description=\"{}\"",
                self.message()
            );
            if let Self::InsufficientScope { required, .. } = self {
                let _ = write!(value, ", scope=\"{}\"", quote_safe(required));
            }
        }
        HeaderValue::from_str(&value).ok()
    }

    /// This error as an [`ApiError`] carrying its `WWW-Authenticate` challenge.
    pub fn into_api_error(self, realm: Option<&str>) -> ApiError {
        let challenge = self.challenge(realm);
        let mut error = ApiError::new(self.code(), self.message());
        if let Some(challenge) = challenge {
            error = error.with_header(header::WWW_AUTHENTICATE, challenge);
        }
        if matches!(self, Self::KeysUnavailable) {
            error = error.with_retry_after(std::time::Duration::from_secs(5));
        }
        error
    }
}

/// Keeps a configured value inside a quoted-string: quotes, backslashes and control
/// characters are dropped.
fn quote_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c))
        .collect()
}

impl From<GuardError> for ApiError {
    fn from(error: GuardError) -> Self {
        error.into_api_error(None)
    }
}

impl IntoResponse for GuardError {
    fn into_response(self) -> Response {
        self.into_api_error(None).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_has_a_bare_challenge() {
        let value = GuardError::MissingCredentials.challenge(None).unwrap();
        assert_eq!(value, "Bearer");
        let value = GuardError::MissingCredentials
            .challenge(Some("movies"))
            .unwrap();
        assert_eq!(value, "Bearer realm=\"movies\"");
    }

    #[test]
    fn invalid_token_challenge_names_the_error_and_a_description() {
        let err = GuardError::InvalidToken(TokenRejection::BadSignature);
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            err.challenge(None).unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"The token signature is invalid\""
        );
    }

    #[test]
    fn insufficient_scope_is_forbidden_and_names_the_scope() {
        let err = GuardError::InsufficientScope {
            kind: "role",
            required: "admin".into(),
        };
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        let value = err.challenge(None).unwrap();
        assert!(
            value
                .to_str()
                .unwrap()
                .starts_with("Bearer error=\"insufficient_scope\"")
        );
        assert!(value.to_str().unwrap().ends_with("scope=\"admin\""));
    }

    #[test]
    fn invalid_request_is_a_bad_request() {
        let err = GuardError::InvalidRequest("Empty authorization header");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.code(), ErrorCode::BadRequest);
    }
}

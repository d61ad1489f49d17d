//! The error responses of the token, revocation and introspection endpoints: RFC 6749
//! section 5.2.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_response::ErrorCode;
use serde::Serialize;

use crate::IamError;

/// What went wrong at an OAuth endpoint, as RFC 6749 section 5.2 names it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OAuthError {
    /// A required parameter is missing, one is repeated, the body is not a form, or more
    /// than one client authentication method was used (400).
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Client authentication failed: unknown client, wrong secret, disabled client, or
    /// none given (401 with `WWW-Authenticate: Basic`). The causes are indistinguishable.
    #[error("invalid_client")]
    InvalidClient,
    /// The grant (user credentials, refresh token) is invalid, expired, revoked, or was
    /// issued to another client (400).
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// The client may not use this grant type, or asked to revoke a token issued to
    /// another client (400).
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// The grant type is not one this server supports (400).
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A requested scope is malformed, or beyond what the client or grant allows (400).
    #[error("invalid_scope")]
    InvalidScope,
    /// Too many failed attempts for this client, user or address (429 with `Retry-After`;
    /// not an RFC 6749 code, which has none for it).
    #[error("throttled")]
    Throttled(Duration),
    /// The store or signing failed (503 or 500).
    #[error("server error")]
    Server(#[source] IamError),
}

impl From<IamError> for OAuthError {
    fn from(err: IamError) -> Self {
        Self::Server(err)
    }
}

/// The body: RFC 6749's `error` and `error_description`, plus the crate family's own
/// `code` and `message` (the same text), so that one error model holds for every route.
/// RFC 6749 clients read the first two and ignore the rest.
#[derive(Serialize)]
struct ErrorResponse {
    error: &'static str,
    error_description: &'static str,
    code: i32,
    message: &'static str,
}

/// The realm of the Basic challenge on `invalid_client`.
const BASIC_CHALLENGE: &str = "Basic realm=\"oauth2\", charset=\"UTF-8\"";

impl OAuthError {
    /// The crate family's error code for this error.
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_) | Self::UnsupportedGrantType => ErrorCode::BadRequest,
            Self::InvalidClient => ErrorCode::InvalidCredentials,
            Self::InvalidGrant(_) | Self::InvalidScope => ErrorCode::ValidationFailed,
            Self::UnauthorizedClient(_) => ErrorCode::InsufficientRole,
            Self::Throttled(_) => ErrorCode::RateLimited,
            Self::Server(IamError::Unavailable(_)) => ErrorCode::UpstreamUnavailable,
            Self::Server(_) => ErrorCode::Internal,
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::InvalidRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", why),
            Self::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            ),
            Self::InvalidGrant(why) => (StatusCode::BAD_REQUEST, "invalid_grant", why),
            Self::UnauthorizedClient(why) => (StatusCode::BAD_REQUEST, "unauthorized_client", why),
            Self::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "supported: client_credentials, password, refresh_token",
            ),
            Self::InvalidScope => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "a requested scope is malformed or not allowed",
            ),
            Self::Throttled(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many failed attempts, try again later",
            ),
            Self::Server(IamError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the store is unavailable",
            ),
            Self::Server(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the server failed",
            ),
        }
    }
}

impl OAuthError {
    /// The `outcome` label of the token-request metric: the RFC 6749 code, or what the
    /// 429 and 5xx answers stand for.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::Throttled(_) => "throttled",
            Self::Server(IamError::Unavailable(_)) => "unavailable",
            _ => self.parts().1,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error, error_description) = self.parts();
        if let Self::Server(source) = &self {
            tracing::error!(error = %source, source = ?std::error::Error::source(source), "OAuth endpoint failed");
        }
        let mut response = (
            status,
            Json(ErrorResponse {
                error,
                error_description,
                code: self.code().as_i32(),
                message: error_description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        no_store(headers);
        match self {
            // RFC 6749 section 5.2: a 401 names the scheme the client can use; a client
            // that sent Basic gets the Basic challenge it used, and so does one that sent
            // nothing or its credentials in the body (RFC 9110 section 11.6.1 requires a
            // challenge on every 401).
            Self::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BASIC_CHALLENGE),
                );
            }
            Self::Throttled(wait) => {
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, as RFC 6749 sections 5.1 and 5.2
/// require on token responses and their errors.
pub(crate) fn no_store(headers: &mut http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_with_a_basic_challenge_and_no_store() {
        let response = OAuthError::InvalidClient.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let headers = response.headers();
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn store_outages_are_503_and_failures_500() {
        let down = OAuthError::Server(IamError::unavailable("db down")).into_response();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        let broken = OAuthError::Server(IamError::store("boom")).into_response();
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

//! The table of stable error codes.

use http::StatusCode;

/// A stable numeric error code, the `code` field of every error body.
///
/// Codes never change meaning once published; new ones may be added, so match with a
/// wildcard arm. The table (also in `docs/error-codes.md`):
///
/// | code | variant | default status | meaning |
/// |-----:|---------|---------------:|---------|
/// | -1   | [`Unknown`](Self::Unknown) | 500 | the catch-all of the original go-microservices project; kept only for compatibility |
/// | 1000 | [`MalformedBody`](Self::MalformedBody) | 400 | the body could not be parsed (bad JSON, bad form encoding) |
/// | 1001 | [`ValidationFailed`](Self::ValidationFailed) | 400 | the input parsed but a value is wrong (empty name, bad URL, wrong type) |
/// | 1002 | [`UnsupportedMediaType`](Self::UnsupportedMediaType) | 415 | the `Content-Type` is not one the route accepts |
/// | 1003 | [`PayloadTooLarge`](Self::PayloadTooLarge) | 413 | the body is over the service's size limit |
/// | 1004 | [`MissingCredentials`](Self::MissingCredentials) | 401 | no bearer token was sent |
/// | 1005 | [`InvalidToken`](Self::InvalidToken) | 401 | the token is malformed, badly signed or not for this service |
/// | 1006 | [`ExpiredToken`](Self::ExpiredToken) | 401 | the token has expired |
/// | 1007 | [`InsufficientRole`](Self::InsufficientRole) | 403 | the token lacks the role or scope the route needs |
/// | 1008 | [`NotFound`](Self::NotFound) | 404 | no such resource or route |
/// | 1009 | [`Conflict`](Self::Conflict) | 409 | the resource already exists (a duplicate name) |
/// | 1010 | [`RateLimited`](Self::RateLimited) | 429 | too many requests; see `Retry-After` |
/// | 1011 | [`UpstreamUnavailable`](Self::UpstreamUnavailable) | 503 | a dependency (database, IAM) is down or its breaker is open |
/// | 1012 | [`Internal`](Self::Internal) | 500 | a fault of the service; details are in its logs, never in the body |
/// | 1013 | [`MethodNotAllowed`](Self::MethodNotAllowed) | 405 | the route exists but not for this method |
/// | 1014 | [`InvalidCredentials`](Self::InvalidCredentials) | 401 | login failed: unknown user or wrong password (deliberately the same) |
/// | 1015 | [`BadRequest`](Self::BadRequest) | 400 | the request is malformed outside its body (a bad path segment, header or query) |
/// | 1016 | [`Timeout`](Self::Timeout) | 504 | the request or an upstream call took longer than allowed |
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `-1`: the catch-all code of the original go-microservices project, kept only for
    /// compatibility.
    Unknown,
    /// `1000`: the body could not be parsed.
    MalformedBody,
    /// `1001`: the input parsed but failed validation.
    ValidationFailed,
    /// `1002`: unsupported `Content-Type`.
    UnsupportedMediaType,
    /// `1003`: the body is larger than allowed.
    PayloadTooLarge,
    /// `1004`: no credentials were sent.
    MissingCredentials,
    /// `1005`: the token is invalid.
    InvalidToken,
    /// `1006`: the token has expired.
    ExpiredToken,
    /// `1007`: the token lacks a required role or scope.
    InsufficientRole,
    /// `1008`: no such resource or route.
    NotFound,
    /// `1009`: the resource already exists.
    Conflict,
    /// `1010`: too many requests.
    RateLimited,
    /// `1011`: a dependency is unavailable.
    UpstreamUnavailable,
    /// `1012`: an internal fault.
    Internal,
    /// `1013`: the method is not allowed on this route.
    MethodNotAllowed,
    /// `1014`: login failed.
    InvalidCredentials,
    /// `1015`: the request is malformed outside its body.
    BadRequest,
    /// `1016`: the request or an upstream call timed out.
    Timeout,
}

impl ErrorCode {
    /// Every code, in table order. A slice, not an array: the table grows as codes are
    /// added, and its length is not part of the API.
    pub const ALL: &'static [Self] = &[
        Self::Unknown,
        Self::MalformedBody,
        Self::ValidationFailed,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
        Self::MissingCredentials,
        Self::InvalidToken,
        Self::ExpiredToken,
        Self::InsufficientRole,
        Self::NotFound,
        Self::Conflict,
        Self::RateLimited,
        Self::UpstreamUnavailable,
        Self::Internal,
        Self::MethodNotAllowed,
        Self::InvalidCredentials,
        Self::BadRequest,
        Self::Timeout,
    ];

    /// The number sent in the `code` field.
    pub const fn as_i32(self) -> i32 {
        match self {
            Self::Unknown => -1,
            Self::MalformedBody => 1000,
            Self::ValidationFailed => 1001,
            Self::UnsupportedMediaType => 1002,
            Self::PayloadTooLarge => 1003,
            Self::MissingCredentials => 1004,
            Self::InvalidToken => 1005,
            Self::ExpiredToken => 1006,
            Self::InsufficientRole => 1007,
            Self::NotFound => 1008,
            Self::Conflict => 1009,
            Self::RateLimited => 1010,
            Self::UpstreamUnavailable => 1011,
            Self::Internal => 1012,
            Self::MethodNotAllowed => 1013,
            Self::InvalidCredentials => 1014,
            Self::BadRequest => 1015,
            Self::Timeout => 1016,
        }
    }

    /// The code with this number, if there is one.
    pub fn from_i32(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_i32() == code)
    }

    /// The HTTP status this code is sent with unless the caller picks another.
    pub const fn default_status(self) -> StatusCode {
        match self {
            Self::Unknown | Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MalformedBody | Self::ValidationFailed | Self::BadRequest => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MissingCredentials
            | Self::InvalidToken
            | Self::ExpiredToken
            | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::InsufficientRole => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// A short, stable, machine-friendly name (`"not_found"`), used as the problem type
    /// suffix in `application/problem+json` responses.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::MalformedBody => "malformed_body",
            Self::ValidationFailed => "validation_failed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidToken => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::InsufficientRole => "insufficient_role",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::Internal => "internal",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidCredentials => "invalid_credentials",
            Self::BadRequest => "bad_request",
            Self::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.as_i32(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_i32()), "duplicate number for {code:?}");
            assert_eq!(ErrorCode::from_i32(code.as_i32()), Some(code));
        }
        assert_eq!(ErrorCode::from_i32(42), None);
    }

    #[test]
    fn only_unknown_keeps_the_original_minus_one() {
        assert_eq!(ErrorCode::Unknown.as_i32(), -1);
        assert!(ErrorCode::ALL.iter().filter(|c| c.as_i32() < 0).count() == 1);
    }

    #[test]
    fn every_code_is_a_row_of_the_published_table_with_its_name_and_status() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/error-codes.md");
        let table = std::fs::read_to_string(path).expect("docs/error-codes.md");
        let rows: Vec<Vec<&str>> = table
            .lines()
            .filter(|line| line.starts_with("| -1 ") || line.starts_with("| 1"))
            .map(|line| line.split('|').map(str::trim).collect())
            .collect();
        assert_eq!(rows.len(), ErrorCode::ALL.len(), "one row per code");
        for &code in ErrorCode::ALL {
            let row = rows
                .iter()
                .find(|row| row[1] == code.as_i32().to_string())
                .unwrap_or_else(|| panic!("no row for {code}"));
            assert!(row[2].ends_with(&format!("`{}`", code.name())), "{row:?}");
            assert!(
                row[2].contains(&format!("id=\"{}\"", code.name())),
                "{row:?}"
            );
            let status = code.default_status().as_u16().to_string();
            assert!(row[3].contains(&status), "{code}: {row:?}");
        }
    }

    #[test]
    fn client_mistakes_never_default_to_a_server_error() {
        for &code in ErrorCode::ALL {
            let server_side = matches!(
                code,
                ErrorCode::Unknown
                    | ErrorCode::Internal
                    | ErrorCode::UpstreamUnavailable
                    | ErrorCode::Timeout
            );
            assert_eq!(
                code.default_status().is_server_error(),
                server_side,
                "{code:?}"
            );
        }
    }
}

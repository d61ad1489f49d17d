//! [`ApiError`], the one error type every Portcullis route returns.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::ErrorCode;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The wire form of an error: `{"code": <int>, "message": "<text>"}`.
///
/// Services send it; clients (and tests) deserialize it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable number from the [`ErrorCode`] table.
    #[cfg_attr(feature = "openapi", schema(example = 1005))]
    pub code: i32,
    /// A message that is safe to show to the caller.
    #[cfg_attr(feature = "openapi", schema(example = "Invalid token"))]
    pub message: String,
}

/// An HTTP-facing error: a status, a stable [`ErrorCode`], a message safe to show, and
/// optionally the underlying error for logs.
///
/// Its response is the status with an [`ErrorBody`] as JSON. The source error is never put
/// in the body: it is logged (at `error` for 5xx, `debug` otherwise) when the response is
/// built, and it stays reachable through [`std::error::Error::source`].
///
/// ```
/// use portcullis_response::{ApiError, ErrorCode};
///
/// let err = ApiError::not_found("Movie not found");
/// assert_eq!(err.status(), 404);
/// assert_eq!(err.code(), ErrorCode::NotFound);
/// ```
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: Cow<'static, str>,
    source: Option<BoxError>,
    headers: Option<Box<HeaderMap>>,
}

impl ApiError {
    /// An error with `code`, sent with the code's [default status](ErrorCode::default_status).
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: code.default_status(),
            code,
            message: message.into(),
            source: None,
            headers: None,
        }
    }

    /// Sends the error with `status` instead of the code's default.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Keeps `source` for logs and for [`std::error::Error::source`]; it never reaches the body.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds a response header, such as `WWW-Authenticate` or `Retry-After`.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers
            .get_or_insert_with(Default::default)
            .append(name, value);
        self
    }

    /// Adds `Retry-After` with a whole number of seconds (rounded up, at least 1).
    #[must_use]
    pub fn with_retry_after(self, after: std::time::Duration) -> Self {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        self.with_header(header::RETRY_AFTER, HeaderValue::from(secs.max(1)))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message sent to the caller.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The extra response headers, if any were added.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.headers.as_deref()
    }

    /// The wire body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.as_i32(),
            message: self.message.to_string(),
        }
    }

    /// 400 [`MalformedBody`](ErrorCode::MalformedBody).
    pub fn malformed_body(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::MalformedBody, message)
    }

    /// 400 [`ValidationFailed`](ErrorCode::ValidationFailed).
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// 400 [`BadRequest`](ErrorCode::BadRequest).
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 401 [`MissingCredentials`](ErrorCode::MissingCredentials).
    pub fn missing_credentials(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::MissingCredentials, message)
    }

    /// 401 [`InvalidToken`](ErrorCode::InvalidToken).
    pub fn invalid_token(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, message)
    }

    /// 401 [`ExpiredToken`](ErrorCode::ExpiredToken).
    pub fn expired_token(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::ExpiredToken, message)
    }

    /// 401 [`InvalidCredentials`](ErrorCode::InvalidCredentials).
    pub fn invalid_credentials(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidCredentials, message)
    }

    /// 403 [`InsufficientRole`](ErrorCode::InsufficientRole).
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InsufficientRole, message)
    }

    /// 404 [`NotFound`](ErrorCode::NotFound).
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 409 [`Conflict`](ErrorCode::Conflict).
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// 429 [`RateLimited`](ErrorCode::RateLimited) with `Retry-After`.
    pub fn rate_limited(
        message: impl Into<Cow<'static, str>>,
        retry_after: std::time::Duration,
    ) -> Self {
        Self::new(ErrorCode::RateLimited, message).with_retry_after(retry_after)
    }

    /// 503 [`UpstreamUnavailable`](ErrorCode::UpstreamUnavailable).
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UpstreamUnavailable, message)
    }

    /// 504 [`Timeout`](ErrorCode::Timeout).
    pub fn timeout(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Timeout, message)
    }

    /// 500 [`Internal`](ErrorCode::Internal) with a generic message; `source` goes to the log only.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorCode::Internal, "Internal server error").with_source(source)
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.status, self.code, self.message)
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = self.code.as_i32(), message = %self.message, source = ?self.source, "request failed");
        } else {
            tracing::debug!(status = %self.status, code = self.code.as_i32(), message = %self.message, source = ?self.source, "request rejected");
        }
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(headers) = self.headers {
            response.headers_mut().extend(*headers);
        }
        // Marks the response so that the service layers leave it alone, or rewrite it as
        // problem+json on request without parsing the body.
        response.extensions_mut().insert(ErrorMarker {
            code: self.code,
            message: self.message,
        });
        response
    }
}

/// Put in the extensions of every response built from an [`ApiError`].
#[derive(Debug, Clone)]
pub(crate) struct ErrorMarker {
    pub(crate) code: ErrorCode,
    pub(crate) message: Cow<'static, str>,
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code, code.name().replace('_', " "))
    }
}

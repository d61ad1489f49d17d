//! The two error types: [`IamError`] for what goes wrong per call (and its mapping to
//! [`ApiError`]), [`ConfigError`] for what goes wrong while building.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use portcullis_response::ApiError;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong per call: store failures, bad input, bad credentials, throttling,
/// token signing. Building (configuration) has its own type, [`ConfigError`].
///
/// Converting it into an [`ApiError`] (or a response) picks the status: a client mistake is
/// never a 500. Sources are kept for logs only and never reach a response body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    /// A user with this name already exists (409).
    #[error("a user named {name:?} already exists")]
    DuplicateName {
        /// The name that is taken.
        name: String,
    },
    /// No user has this id (404).
    #[error("no user with id {id:?}")]
    UnknownUser {
        /// The id that was looked up.
        id: String,
    },
    /// An OAuth client with this id already exists (409).
    #[error("an OAuth client with id {id:?} already exists")]
    DuplicateClient {
        /// The id that is taken.
        id: String,
    },
    /// No OAuth client has this id (404).
    #[error("no OAuth client with id {id:?}")]
    UnknownClient {
        /// The id that was looked up.
        id: String,
    },
    /// The id is not a 24-hex-digit `ObjectId` string (400).
    #[error("malformed user id: expected 24 hexadecimal digits")]
    MalformedId,
    /// The input is well-formed but not acceptable, e.g. a short password (400).
    #[error("{0}")]
    Validation(String),
    /// Login failed: unknown user or wrong password, deliberately indistinguishable (401).
    #[error("invalid user name or password")]
    InvalidCredentials,
    /// The change would leave no user with the role `admin`: the last admin cannot be
    /// deleted or lose that role (409).
    #[error("the last admin cannot be deleted or lose the admin role")]
    LastAdmin,
    /// Too many failed logins for this name or client address (429).
    #[error("too many failed logins; retry after {retry_after:?}")]
    Throttled {
        /// How long until the window that blocks the attempt ends.
        retry_after: Duration,
    },
    /// The user store cannot be reached (503).
    #[error("the user store is unavailable")]
    Unavailable(#[source] BoxError),
    /// The user store failed in an unexpected way (500).
    #[error("the user store failed")]
    Store(#[source] BoxError),
    /// A token could not be signed (500).
    #[error("token signing failed")]
    Token(#[source] BoxError),
    /// Password hashing failed (500).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// What can go wrong while building: a value out of range, a key or admin password that
/// cannot be loaded or is refused, a store that cannot be reached at start-up.
///
/// Returned by [`IamBuilder::build`](crate::IamBuilder::build), the
/// [`SigningKey`](crate::SigningKey) constructors, [`Passwords::new`](crate::Passwords::new),
/// [`ThrottlePolicy`](crate::ThrottlePolicy)'s proxy settings and the store constructors.
/// Never sent to a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is out of range or contradicts another one.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A signing key could not be loaded, or is refused (e.g. an HMAC secret under 32
    /// bytes).
    #[error("signing key: {0}")]
    Key(String),
    /// The configured admin password cannot be read or is refused by the password policy.
    #[error("admin bootstrap: {0}")]
    AdminBootstrap(String),
    /// A trusted-proxy entry is not an IP address or CIDR range.
    #[error(
        "invalid trusted proxy {entry:?}: expected an IP address or a CIDR range such as 10.0.0.0/8"
    )]
    TrustedProxy {
        /// The entry as given.
        entry: String,
    },
    /// The password hashing threads could not be started.
    #[error("password hashing: {0}")]
    Hashing(String),
    /// The resource guard for the IAM's own routes could not be built.
    #[error("the resource guard could not be built")]
    Guard(#[source] BoxError),
    /// The user store failed while building (unreachable, or the admin bootstrap's write
    /// failed).
    #[error("the user store failed while building")]
    Store(#[source] IamError),
}

impl From<IamError> for ConfigError {
    fn from(err: IamError) -> Self {
        Self::Store(err)
    }
}

impl IamError {
    /// An [`IamError::Unavailable`] with `source` kept for logs.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable(source.into())
    }

    /// An [`IamError::Store`] with `source` kept for logs.
    pub fn store(source: impl Into<BoxError>) -> Self {
        Self::Store(source.into())
    }
}

impl From<IamError> for ApiError {
    fn from(err: IamError) -> Self {
        match err {
            IamError::DuplicateName { .. } => ApiError::conflict("User name already exists"),
            IamError::UnknownUser { .. } => ApiError::not_found("User not found"),
            IamError::DuplicateClient { .. } => ApiError::conflict("Client id already exists"),
            IamError::UnknownClient { .. } => ApiError::not_found("Client not found"),
            IamError::MalformedId => {
                ApiError::bad_request("Malformed user id: expected 24 hexadecimal digits")
            }
            IamError::Validation(message) => ApiError::validation(message),
            IamError::InvalidCredentials => {
                ApiError::invalid_credentials("Invalid user name or password")
            }
            IamError::LastAdmin => ApiError::conflict(
                "The last admin cannot be deleted or lose the admin role: \
                 give another user the role admin first",
            ),
            IamError::Throttled { retry_after } => {
                ApiError::rate_limited("Too many failed logins, try again later", retry_after)
            }
            IamError::Unavailable(source) => {
                ApiError::unavailable("The user store is unavailable").with_source(source)
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for IamError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn client_mistakes_map_to_client_statuses() {
        let cases = [
            (
                IamError::DuplicateName { name: "a".into() },
                StatusCode::CONFLICT,
            ),
            (
                IamError::UnknownUser { id: "x".into() },
                StatusCode::NOT_FOUND,
            ),
            (IamError::MalformedId, StatusCode::BAD_REQUEST),
            (
                IamError::DuplicateClient { id: "c".into() },
                StatusCode::CONFLICT,
            ),
            (
                IamError::UnknownClient { id: "c".into() },
                StatusCode::NOT_FOUND,
            ),
            (
                IamError::Validation("short".into()),
                StatusCode::BAD_REQUEST,
            ),
            (IamError::InvalidCredentials, StatusCode::UNAUTHORIZED),
            (IamError::LastAdmin, StatusCode::CONFLICT),
            (
                IamError::Throttled {
                    retry_after: Duration::from_secs(3),
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                IamError::unavailable("down"),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (IamError::store("boom"), StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (err, status) in cases {
            assert_eq!(ApiError::from(err).status(), status);
        }
    }

    #[test]
    fn throttled_carries_retry_after() {
        let api = ApiError::from(IamError::Throttled {
            retry_after: Duration::from_millis(2500),
        });
        let headers = api.headers().expect("headers");
        assert_eq!(headers[http::header::RETRY_AFTER], "3");
    }

    #[test]
    fn store_sources_stay_out_of_the_message() {
        let api = ApiError::from(IamError::unavailable("mongodb://user:secret@db"));
        assert!(!api.message().contains("secret"));
    }
}

use std::time::Duration;

use crate::ConfigError;

/// Why [`BalancedClientBuilder::build`](super::BalancedClientBuilder::build) could not
/// build a client: its configuration, never a call's outcome.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientBuildError {
    /// No upstream instance was given.
    #[error("no upstream instance was given")]
    NoUpstream,
    /// An upstream base URL (or its weight) is unusable.
    #[error("invalid upstream URL {url:?}: {reason}")]
    InvalidUpstream {
        /// The URL as given.
        url: Box<str>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The breaker configuration given to
    /// [`breaker`](super::BalancedClientBuilder::breaker) has a setting out of range.
    #[error("invalid circuit breaker configuration: {0}")]
    Breaker(#[from] ConfigError),
    /// A client that follows a discovery source was built outside a tokio runtime (it
    /// follows the source in a task of that runtime).
    #[error("a client that follows a discovery source must be built within a tokio runtime")]
    NoRuntime,
}

/// Why a request sent through a [`BalancedClient`](super::BalancedClient) got no response.
///
/// A response of any status is not an error: a 503 is an `Ok` response the caller may
/// inspect (and that counted against its instance).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No instance admits calls: every instance's breaker is open (or half-open with its
    /// trial permits in use).
    #[error("every upstream instance is unavailable; retry in {retry_in:?}")]
    AllOpen {
        /// How long until the soonest instance admits a trial call.
        retry_in: Duration,
    },
    /// The request ran past the breaker's call timeout and was cancelled.
    #[error("upstream call timed out after {elapsed:?}")]
    Timeout {
        /// How long the request ran before it was cancelled.
        elapsed: Duration,
    },
    /// reqwest could not build, send or complete the request: a refused connection (after
    /// trying the other admitted instances), reqwest's own timeout, a lost connection.
    #[error(transparent)]
    Request(reqwest::Error),
    /// No instance is known: the discovery source has announced none yet, or every one
    /// has left.
    #[error("no upstream instance is known")]
    NoInstance,
}

impl ClientError {
    /// Whether the request was rejected because no instance admits calls.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::AllOpen { .. })
    }

    /// Whether the request ran past the breaker's call timeout or reqwest's own timeout.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Request(error) => error.is_timeout(),
            Self::AllOpen { .. } | Self::NoInstance => false,
        }
    }

    /// How long to wait before retrying, when no instance admits calls.
    pub fn retry_in(&self) -> Option<Duration> {
        match self {
            Self::AllOpen { retry_in } => Some(*retry_in),
            _ => None,
        }
    }
}

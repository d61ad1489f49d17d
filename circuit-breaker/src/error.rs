//! The crate's one error type.

use std::time::Duration;

/// Why a call through a circuit breaker did not produce the wrapped operation's value.
///
/// `E` is the wrapped operation's own error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker rejected the call without running it (Akka's
    /// `CircuitBreakerOpenException`).
    #[error("circuit breaker is open; retry in {remaining:?}")]
    Open {
        /// How long until the breaker half-opens and admits a trial call. Zero while it is
        /// half-open with every trial permit in use; the current reset timeout, as a hint,
        /// while it is forced open. While the open period is timed by the runtime (see the
        /// [crate docs](crate)), it is counted from the timer's last reading and may
        /// overstate the time left by up to an eighth of it, at most one second (plus any
        /// lateness of the runtime's timer).
        remaining: Duration,
    },
    /// The call ran past the configured call timeout; its future was dropped.
    #[error("call timed out after {elapsed:?}")]
    Timeout {
        /// How long the call ran before it was cancelled.
        elapsed: Duration,
    },
    /// The wrapped operation failed with its own error.
    #[error(transparent)]
    Inner(E),
    /// Every upstream instance of a `BalancedClient` (feature `reqwest`) is open.
    #[error("every upstream instance is unavailable; retry in {retry_in:?}")]
    AllOpen {
        /// How long until the soonest instance admits a trial call.
        retry_in: Duration,
    },
    /// An upstream base URL given to a `BalancedClientBuilder` is unusable.
    #[error("invalid upstream URL {url:?}: {reason}")]
    InvalidUpstream {
        /// The URL as given.
        url: Box<str>,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl<E> BreakerError<E> {
    /// Whether the call was rejected because its breaker (or, for a client, every
    /// instance's breaker) is open.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. } | Self::AllOpen { .. })
    }

    /// Whether the call ran past the call timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Whether the wrapped operation failed with its own error.
    pub fn is_inner(&self) -> bool {
        matches!(self, Self::Inner(_))
    }

    /// How long to wait before retrying, when the call was rejected by open breakers.
    pub fn retry_in(&self) -> Option<Duration> {
        match self {
            Self::Open { remaining } => Some(*remaining),
            Self::AllOpen { retry_in } => Some(*retry_in),
            _ => None,
        }
    }

    /// The wrapped operation's error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Inner(error) => Some(error),
            _ => None,
        }
    }

    /// Maps the wrapped operation's error, keeping every other variant.
    pub fn map_inner<F, E2>(self, map: F) -> BreakerError<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            Self::Open { remaining } => BreakerError::Open { remaining },
            Self::Timeout { elapsed } => BreakerError::Timeout { elapsed },
            Self::Inner(error) => BreakerError::Inner(map(error)),
            Self::AllOpen { retry_in } => BreakerError::AllOpen { retry_in },
            Self::InvalidUpstream { url, reason } => BreakerError::InvalidUpstream { url, reason },
        }
    }
}

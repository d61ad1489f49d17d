//! The breaker's two error types: [`BreakerError`] for a call, [`ConfigError`] for a
//! builder's settings.

use std::time::Duration;

/// Why a call through a circuit breaker did not produce the wrapped operation's value.
///
/// `E` is the wrapped operation's own error type. Configuration mistakes are not calls'
/// errors: they are [`ConfigError`]s, from [`CircuitBreakerBuilder::build`](crate::CircuitBreakerBuilder::build).
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
}

impl<E> BreakerError<E> {
    /// Whether the call was rejected because the breaker is open.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }

    /// Whether the call ran past the call timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Whether the wrapped operation failed with its own error.
    pub fn is_inner(&self) -> bool {
        matches!(self, Self::Inner(_))
    }

    /// How long to wait before retrying, when the call was rejected by an open breaker.
    pub fn retry_in(&self) -> Option<Duration> {
        match self {
            Self::Open { remaining } => Some(*remaining),
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
        }
    }
}

/// A [`CircuitBreakerBuilder`](crate::CircuitBreakerBuilder) setting out of range, from
/// [`build`](crate::CircuitBreakerBuilder::build). Each setter documents its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_failures` (or `FailurePolicy::ConsecutiveFailures`) is 0.
    #[error("max_failures must be at least 1")]
    MaxFailures,
    /// The failure-rate threshold is not above 0.0 and at most 1.0.
    #[error("the failure-rate threshold must be above 0.0 and at most 1.0, not {threshold}")]
    FailureRateThreshold {
        /// The threshold as given.
        threshold: f64,
    },
    /// The failure-rate window is 0 calls long.
    #[error("the failure-rate window must hold at least 1 call")]
    FailureRateWindow,
    /// The failure-rate minimum number of calls is 0 or longer than the window.
    #[error(
        "the failure-rate minimum_calls must be from 1 to the window ({window}), not {minimum_calls}"
    )]
    MinimumCalls {
        /// The minimum as given.
        minimum_calls: u32,
        /// The window's length.
        window: u32,
    },
    /// The call timeout is zero: every call would time out.
    #[error("call_timeout must be above zero")]
    CallTimeout,
    /// The maximum reset timeout is below the reset timeout.
    #[error("max_reset_timeout ({max_reset_timeout:?}) is below reset_timeout ({reset_timeout:?})")]
    MaxResetTimeout {
        /// The ceiling as given.
        max_reset_timeout: Duration,
        /// The reset timeout it should not be below.
        reset_timeout: Duration,
    },
    /// The exponential backoff factor is not finite or below 1.0.
    #[error("exponential_backoff must be a finite factor of at least 1.0, not {factor}")]
    ExponentialBackoff {
        /// The factor as given.
        factor: f64,
    },
    /// The jitter factor is not finite or below 0.0.
    #[error("random_factor must be a finite factor of at least 0.0, not {factor}")]
    RandomFactor {
        /// The factor as given.
        factor: f64,
    },
    /// `half_open_permits` is 0: a half-open breaker would admit no trial.
    #[error("half_open_permits must be at least 1")]
    HalfOpenPermits,
    /// `half_open_successes` is 0 or more than `half_open_permits`.
    #[error("half_open_successes must be from 1 to half_open_permits ({permits}), not {successes}")]
    HalfOpenSuccesses {
        /// The successes as given.
        successes: u16,
        /// The half-open permits.
        permits: u16,
    },
    /// `event_capacity` is 0 or above 65,536.
    #[error("event_capacity must be from 1 to 65536, not {capacity}")]
    EventCapacity {
        /// The capacity as given.
        capacity: usize,
    },
}

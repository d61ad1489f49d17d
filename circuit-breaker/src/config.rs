//! The builder, failure policies, listeners and outcome classification.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, TokioClock};
use crate::error::ConfigError;
use crate::listener::{self, CallListener, EventListener, Listeners};
use crate::{CircuitBreaker, State};

/// How the breaker decides, while closed, that it is time to trip open.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Trip after this many failures in a row; any success resets the count (Akka's
    /// `maxFailures`).
    ConsecutiveFailures {
        /// Failures in a row that trip the breaker (at least 1).
        max_failures: u32,
    },
    /// Trip when the share of failures among the last `window` calls reaches `threshold`,
    /// once at least `minimum_calls` calls have been recorded.
    FailureRate {
        /// Failure share that trips the breaker, above 0.0 and at most 1.0.
        threshold: f64,
        /// How many of the most recent calls are considered (at least 1).
        window: u32,
        /// Calls recorded before the rate is trusted (at least 1, at most `window`).
        minimum_calls: u32,
    },
}

impl FailurePolicy {
    /// Trip after `max_failures` failures in a row.
    pub fn consecutive_failures(max_failures: u32) -> Self {
        Self::ConsecutiveFailures { max_failures }
    }

    /// Trip when at least `threshold` (0.0 to 1.0) of the last `window` calls failed; the
    /// minimum number of calls defaults to the whole window.
    pub fn failure_rate(threshold: f64, window: u32) -> Self {
        Self::FailureRate {
            threshold,
            window,
            minimum_calls: window,
        }
    }

    /// For a failure-rate policy, the number of recorded calls needed before the rate is
    /// trusted. No effect on the consecutive-failures policy.
    #[must_use]
    pub fn minimum_calls(self, calls: u32) -> Self {
        match self {
            Self::FailureRate {
                threshold, window, ..
            } => Self::FailureRate {
                threshold,
                window,
                minimum_calls: calls,
            },
            other @ Self::ConsecutiveFailures { .. } => other,
        }
    }
}

/// What a finished call means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The dependency is healthy (for example a 2xx, or a 404 that is the caller's fault).
    Success,
    /// The dependency is failing (for example a refused connection or a 503).
    Failure,
    /// Not evidence either way; the call is not counted.
    Ignored,
}

/// Decides what a call's result means to the breaker.
///
/// Implemented for every `Fn(&Result<T, E>) -> Outcome` closure, and by
/// [`DefaultClassifier`] (every `Err` is a failure).
pub trait Classifier<T, E> {
    /// Classifies one result.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classifier<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classification: `Ok` is a success, `Err` a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl<T, E> Classifier<T, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// The ceiling of the backed-off reset timeout unless one is set.
const DEFAULT_MAX_RESET_TIMEOUT: Duration = Duration::from_secs(3600);

/// Events kept for a subscriber that has not read them yet, unless set.
const DEFAULT_EVENT_CAPACITY: usize = 256;

/// The most events a subscriber's buffer may hold.
pub(crate) const MAX_EVENT_CAPACITY: usize = 1 << 16;

/// Configures a [`CircuitBreaker`]. Every setting has a default; [`build`](Self::build)
/// checks the settings and returns a [`ConfigError`] for a value out of range.
///
/// The builder is `Clone`, so one configuration can build several independent breakers
/// (the `BalancedClient` of feature `reqwest` builds one per upstream instance).
#[derive(Clone, Debug)]
pub struct CircuitBreakerBuilder {
    pub(crate) name: Arc<str>,
    pub(crate) event_capacity: usize,
    pub(crate) policy: FailurePolicy,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) reset_timeout: Duration,
    pub(crate) exponential_backoff: f64,
    pub(crate) max_reset_timeout: Option<Duration>,
    pub(crate) random_factor: f64,
    pub(crate) max_half_open_wait: Option<Duration>,
    pub(crate) half_open_permits: u16,
    pub(crate) half_open_successes: u16,
    pub(crate) slow_call_threshold: Option<Duration>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) listeners: Listeners,
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        Self {
            name: Arc::from(Self::DEFAULT_NAME),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            policy: FailurePolicy::consecutive_failures(5),
            call_timeout: None,
            reset_timeout: Duration::from_secs(60),
            exponential_backoff: 1.0,
            max_reset_timeout: None,
            random_factor: 0.0,
            max_half_open_wait: None,
            half_open_permits: 1,
            half_open_successes: 1,
            slow_call_threshold: None,
            clock: Arc::new(TokioClock),
            listeners: Listeners::default(),
        }
    }
}

impl CircuitBreakerBuilder {
    /// The name of a breaker built without one.
    pub const DEFAULT_NAME: &'static str = "unnamed";

    /// A builder with every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The breaker's name, given to listeners that take one, in [events](CircuitBreaker::subscribe)
    /// and as the `breaker` label of its metrics (feature `metrics`). Keep it to a bounded
    /// set (a dependency, an upstream instance), never a per-request value. Breakers built
    /// from one builder share it; the `BalancedClient` of feature `reqwest` names each
    /// instance's breaker itself. Default is `"unnamed"` ([`DEFAULT_NAME`](Self::DEFAULT_NAME)).
    #[must_use]
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How many events each [subscriber](CircuitBreaker::subscribe) may leave unread
    /// before it loses the oldest: a slow subscriber loses events, it never slows a call.
    /// From 1 to 65,536 ([`build`](Self::build) refuses others). Default is 256.
    #[must_use]
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Failures in a row (failed or timed-out calls) that trip the closed breaker open;
    /// selects the consecutive-failures policy. At least 1 ([`build`](Self::build) refuses
    /// 0). Default is 5.
    #[must_use]
    pub fn max_failures(mut self, max_failures: u32) -> Self {
        self.policy = FailurePolicy::consecutive_failures(max_failures);
        self
    }

    /// How the closed breaker decides to trip. Default is
    /// `FailurePolicy::consecutive_failures(5)`.
    #[must_use]
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Calls running longer are cancelled (their future is dropped) and count as failures.
    /// Needs a tokio runtime with time enabled. Above zero ([`build`](Self::build) refuses
    /// zero). Default is no timeout.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// How long the breaker stays open before it half-opens. Default is 60 seconds.
    #[must_use]
    pub fn reset_timeout(mut self, timeout: Duration) -> Self {
        self.reset_timeout = timeout;
        self
    }

    /// Each failed half-open trial multiplies the reset timeout by this factor; a
    /// successful trial restores the configured one. A finite factor of at least 1.0
    /// ([`build`](Self::build) refuses others). Default is 1.0 (no backoff).
    #[must_use]
    pub fn exponential_backoff(mut self, factor: f64) -> Self {
        self.exponential_backoff = factor;
        self
    }

    /// The ceiling for the backed-off reset timeout; at least the reset timeout
    /// ([`build`](Self::build) refuses a smaller one). Default is 1 hour, or the reset
    /// timeout if that is longer.
    #[must_use]
    pub fn max_reset_timeout(mut self, timeout: Duration) -> Self {
        self.max_reset_timeout = Some(timeout);
        self
    }

    /// Jitter: every open period is lengthened by a random share, up to this factor, of the
    /// reset timeout (0.2 means up to 20 % longer), so that many clients do not retry in
    /// step. A finite factor of at least 0.0 ([`build`](Self::build) refuses others).
    /// Default is 0.0 (no jitter).
    #[must_use]
    pub fn random_factor(mut self, factor: f64) -> Self {
        self.random_factor = factor;
        self
    }

    /// If the half-open trials have not settled the state within this time (say a trial
    /// hangs without a call timeout), the breaker opens again as if a trial had failed.
    /// Default is no limit.
    #[must_use]
    pub fn max_half_open_wait(mut self, wait: Duration) -> Self {
        self.max_half_open_wait = Some(wait);
        self
    }

    /// How many trial calls a half-open breaker admits (Akka admits one). At least 1
    /// ([`build`](Self::build) refuses 0). Default is 1.
    #[must_use]
    pub fn half_open_permits(mut self, permits: u16) -> Self {
        self.half_open_permits = permits;
        self
    }

    /// Successful trials needed to close the breaker: from 1 to the number of half-open
    /// permits ([`build`](Self::build) refuses others). Any failed trial re-opens it.
    /// Default is 1.
    #[must_use]
    pub fn half_open_successes(mut self, successes: u16) -> Self {
        self.half_open_successes = successes;
        self
    }

    /// Successful calls slower than this are counted as failures by the failure policy
    /// (the caller still gets the value). Default is none.
    #[must_use]
    pub fn slow_call_threshold(mut self, threshold: Duration) -> Self {
        self.slow_call_threshold = Some(threshold);
        self
    }

    /// The clock used for reset timeouts and call durations. Default is [`TokioClock`].
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Runs after the breaker opens (tripped, re-opened after a failed trial, or forced).
    /// Default is none.
    #[must_use]
    pub fn on_open<A>(mut self, listener: impl EventListener<A>) -> Self {
        self.listeners.on_open = Some(listener::named(listener));
        self
    }

    /// Runs after the breaker closes (a trial succeeded, or reset / forced closed).
    /// Default is none.
    #[must_use]
    pub fn on_close<A>(mut self, listener: impl EventListener<A>) -> Self {
        self.listeners.on_close = Some(listener::named(listener));
        self
    }

    /// Runs after the breaker half-opens. With the default [`TokioClock`] and a breaker
    /// that tripped inside a tokio runtime, a timer on that runtime makes the move at the
    /// reset timeout; otherwise it happens at the first call after the reset timeout.
    /// Either way it runs once per move. Default is none.
    #[must_use]
    pub fn on_half_open<A>(mut self, listener: impl EventListener<A>) -> Self {
        self.listeners.on_half_open = Some(listener::named(listener));
        self
    }

    /// Runs after every change of state, with the breaker's name and the states before
    /// and after (gobreaker's `OnStateChange`): tripped, half-opened, closed, forced or
    /// reset. A manual move to the state the breaker is already in is no change and does
    /// not run it. Runs after `on_open`, `on_close` or `on_half_open`. Default is none.
    ///
    /// ```
    /// use portcullis_circuit_breaker::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .name("iam")
    ///     .on_state_change(|name, from, to| eprintln!("breaker {name}: {from:?} -> {to:?}"))
    ///     .build()
    ///     .unwrap();
    /// breaker.force_open(); // breaker iam: Closed -> ForcedOpen
    /// ```
    #[must_use]
    pub fn on_state_change(
        mut self,
        listener: impl Fn(&str, State, State) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.on_state_change = Some(Arc::new(listener));
        self
    }

    /// Runs after each call classified a success, with its duration. Default is none.
    #[must_use]
    pub fn on_call_success<A>(mut self, listener: impl CallListener<A>) -> Self {
        self.listeners.on_call_success = Some(listener::timed(listener));
        self
    }

    /// Runs after each call classified a failure (not timeouts), with its duration.
    /// Default is none.
    #[must_use]
    pub fn on_call_failure<A>(mut self, listener: impl CallListener<A>) -> Self {
        self.listeners.on_call_failure = Some(listener::timed(listener));
        self
    }

    /// Runs after each call cancelled by the call timeout, with the time it ran.
    /// Default is none.
    #[must_use]
    pub fn on_call_timeout<A>(mut self, listener: impl CallListener<A>) -> Self {
        self.listeners.on_call_timeout = Some(listener::timed(listener));
        self
    }

    /// Runs after each call rejected without running. Default is none.
    #[must_use]
    pub fn on_call_breaker_open<A>(mut self, listener: impl EventListener<A>) -> Self {
        self.listeners.on_call_breaker_open = Some(listener::named(listener));
        self
    }

    /// Builds the breaker, closed.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of range: see each setter for its
    /// range.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.validate()?;
        Ok(CircuitBreaker::from_builder(self))
    }

    /// The ceiling for the backed-off reset timeout.
    pub(crate) fn effective_max_reset_timeout(&self) -> Duration {
        self.max_reset_timeout
            .unwrap_or_else(|| DEFAULT_MAX_RESET_TIMEOUT.max(self.reset_timeout))
    }

    /// Checks every setting against its documented range.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self.policy {
            FailurePolicy::ConsecutiveFailures { max_failures: 0 } => {
                return Err(ConfigError::MaxFailures);
            }
            FailurePolicy::ConsecutiveFailures { .. } => {}
            FailurePolicy::FailureRate {
                threshold,
                window,
                minimum_calls,
            } => {
                // Written so that NaN fails too.
                if !(threshold > 0.0 && threshold <= 1.0) {
                    return Err(ConfigError::FailureRateThreshold { threshold });
                }
                if window == 0 {
                    return Err(ConfigError::FailureRateWindow);
                }
                if minimum_calls == 0 || minimum_calls > window {
                    return Err(ConfigError::MinimumCalls {
                        minimum_calls,
                        window,
                    });
                }
            }
        }
        if self.call_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::CallTimeout);
        }
        if let Some(max_reset_timeout) = self.max_reset_timeout
            && max_reset_timeout < self.reset_timeout
        {
            return Err(ConfigError::MaxResetTimeout {
                max_reset_timeout,
                reset_timeout: self.reset_timeout,
            });
        }
        if !(self.exponential_backoff.is_finite() && self.exponential_backoff >= 1.0) {
            return Err(ConfigError::ExponentialBackoff {
                factor: self.exponential_backoff,
            });
        }
        if !(self.random_factor.is_finite() && self.random_factor >= 0.0) {
            return Err(ConfigError::RandomFactor {
                factor: self.random_factor,
            });
        }
        if !(1..=MAX_EVENT_CAPACITY).contains(&self.event_capacity) {
            return Err(ConfigError::EventCapacity {
                capacity: self.event_capacity,
            });
        }
        if self.half_open_permits == 0 {
            return Err(ConfigError::HalfOpenPermits);
        }
        if self.half_open_successes == 0 || self.half_open_successes > self.half_open_permits {
            return Err(ConfigError::HalfOpenSuccesses {
                successes: self.half_open_successes,
                permits: self.half_open_permits,
            });
        }
        Ok(())
    }
}

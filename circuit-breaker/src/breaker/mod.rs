//! The circuit breaker: [`CircuitBreaker`], its public [`State`] and [`Snapshot`], and the
//! [`CallFuture`] of its calls.
//!
//! One job a module: `word` packs the state into one atomic word, `state_machine` admits
//! and counts calls on it, `transitions` moves between phases under a mutex, `timer`
//! times the open period on the runtime, `failure_rate` and `counters` keep the numbers,
//! `permit` and `admitted` are the one path every call takes once admitted (the breaker's
//! own calls, the tower middleware and the balanced client), and `call` is the future of
//! [`CircuitBreaker::call`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

mod admitted;
mod call;
mod counters;
mod events;
mod failure_rate;
#[cfg(feature = "metrics")]
mod metrics;
mod observe;
mod permit;
mod state;
mod state_machine;
mod timer;
mod transitions;
mod word;

#[cfg_attr(
    not(any(feature = "tower", feature = "reqwest")),
    allow(unused_imports)
)]
pub(crate) use admitted::Admitted;
pub use call::CallFuture;
pub use events::{BreakerEvent, BreakerEvents, CallOutcome};
#[cfg(feature = "metrics")]
pub(crate) use metrics::flush_all as flush_all_metrics;
#[cfg_attr(
    not(any(feature = "tower", feature = "reqwest")),
    allow(unused_imports)
)]
pub(crate) use permit::Permit;
pub use state::{Snapshot, State};
pub(crate) use state_machine::Shared;

use crate::config::{CircuitBreakerBuilder, Classifier, DefaultClassifier};
use crate::error::BreakerError;
use word::{FORCED_CLOSED, FORCED_OPEN, PHASE_CLOSED, PHASE_FORCED, PHASE_HALF_OPEN};

/// An async circuit breaker: Akka's state machine (closed, open, half-open) with
/// exponential backoff, listeners, manual control and lock-free reads.
///
/// Cloning is cheap and clones share one breaker. See the [crate docs](crate) for examples.
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("snapshot", &self.snapshot())
            .field("listeners", &self.shared.listeners)
            .field("clock", &self.shared.clock)
            .finish_non_exhaustive()
    }
}

impl Default for CircuitBreaker {
    /// A breaker with every default of [`CircuitBreakerBuilder`] (which are valid, so this
    /// cannot fail).
    fn default() -> Self {
        Self::from_builder(CircuitBreakerBuilder::default())
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    /// A breaker from a builder whose settings [`CircuitBreakerBuilder::build`] checked.
    pub(crate) fn from_builder(builder: CircuitBreakerBuilder) -> Self {
        Self {
            shared: Arc::new_cyclic(|this| Shared::from_builder(builder, this.clone())),
        }
    }

    /// The breaker's name (see [`CircuitBreakerBuilder::name`]).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Subscribes to the breaker's [events](BreakerEvent): state changes and the outcome of
    /// every call, in order.
    ///
    /// Each subscriber has a buffer of
    /// [`event_capacity`](CircuitBreakerBuilder::event_capacity) events; one that falls
    /// behind loses the oldest (and is told how many), it never slows a call. While
    /// nobody subscribes, nothing is built or sent; while someone does, calls admitted by
    /// a closed breaker are timed (two clock readings each).
    ///
    /// ```
    /// use portcullis_circuit_breaker::{BreakerEvent, CallOutcome, CircuitBreaker};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder().name("iam").build().unwrap();
    /// let mut events = breaker.subscribe();
    /// let _ = breaker.call(|| async { Ok::<_, ()>(()) }).await;
    /// match events.recv().await.unwrap() {
    ///     BreakerEvent::Call { name, outcome, .. } => {
    ///         assert_eq!((&*name, outcome), ("iam", CallOutcome::Success));
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// ```
    pub fn subscribe(&self) -> BreakerEvents {
        BreakerEvents::new(&self.shared)
    }

    /// Brings the breaker's exported call counts (`portcullis_breaker_calls_total`, feature
    /// `metrics`) up to date now.
    ///
    /// A closed breaker's successes are exported in batches to keep the closed call
    /// cheap: between flushes the exported count lags by at most 127 successes per thread
    /// that calls the breaker (and 255 rejections per thread while it is open). A
    /// flush happens at each state change, at each thread's sampled call (its first, then
    /// one in 128) and when the breaker is dropped; call this (or the process-wide
    /// [`flush_metrics`](crate::flush_metrics), which an exporter calls before it renders)
    /// to read exact counts at any other time.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn flush_metrics(&self) {
        self.shared.flush_metrics();
    }

    /// Runs `operation` if the breaker admits it: `Ok` counts as a success, `Err` as a
    /// failure, and a call running past the call timeout is cancelled and counts as a
    /// failure.
    ///
    /// The returned [`CallFuture`] borrows the breaker and allocates nothing (with a call
    /// timeout, the tokio timer takes one small allocation). Admission happens at its first
    /// poll. Dropping it before it finishes counts nothing (and frees a half-open trial
    /// permit).
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<'_, F, Fut, DefaultClassifier>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(DefaultClassifier, operation)
    }

    /// Like [`call`](Self::call), with `classifier` deciding what the result means to the
    /// breaker (for example: a 404 is a success, a 503 a failure, a cancelled request is
    /// ignored).
    pub fn call_with<C, F, Fut, T, E>(
        &self,
        classifier: C,
        operation: F,
    ) -> CallFuture<'_, F, Fut, C>
    where
        C: Classifier<T, E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallFuture::new(&self.shared, classifier, operation)
    }

    /// Runs `operation` through the breaker, and `fallback` instead of returning an error
    /// (rejected, timed out or failed): Hystrix's fallback.
    pub async fn call_or_else<F, Fut, T, E, G>(&self, operation: F, fallback: G) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        G: FnOnce(BreakerError<E>) -> T,
    {
        self.call(operation).await.unwrap_or_else(fallback)
    }

    /// Whether a call made now would be admitted (without reserving anything).
    pub fn is_call_permitted(&self) -> bool {
        match self.state() {
            State::Closed | State::ForcedClosed => true,
            State::Open | State::ForcedOpen => false,
            State::HalfOpen => {
                let word = self.shared.load();
                word.phase() != PHASE_HALF_OPEN || word.permits() < self.shared.half_open_permits
            }
        }
    }

    /// The effective state, read without locks.
    pub fn state(&self) -> State {
        self.snapshot().state
    }

    /// State and counters, read without locks.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// Time until an open breaker half-opens; `None` unless it is open.
    pub fn remaining_open(&self) -> Option<Duration> {
        self.snapshot().remaining_open
    }

    /// Opens the breaker until [`reset`](Self::reset) or
    /// [`force_closed`](Self::force_closed); runs `on_open` (and `on_state_change` unless
    /// it was forced open already).
    pub fn force_open(&self) {
        let previous = self.shared.set(PHASE_FORCED, FORCED_OPEN);
        self.shared.changed(State::of(previous), State::ForcedOpen);
    }

    /// Admits every call and counts nothing until [`reset`](Self::reset) or
    /// [`force_open`](Self::force_open); runs `on_close` (and `on_state_change` unless it
    /// was forced closed already).
    pub fn force_closed(&self) {
        let previous = self.shared.set(PHASE_FORCED, FORCED_CLOSED);
        self.shared
            .changed(State::of(previous), State::ForcedClosed);
    }

    /// Returns to a fresh closed state (counts cleared, reset timeout back to its configured
    /// value); runs `on_close` and `on_state_change` if the breaker was not closed.
    pub fn reset(&self) {
        let previous = self.shared.set(PHASE_CLOSED, 0);
        if previous.phase() != PHASE_CLOSED {
            self.shared.changed(State::of(previous), State::Closed);
        }
    }
}

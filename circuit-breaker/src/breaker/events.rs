//! The event stream: what a breaker did, broadcast to the subscribers that want it.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::state::State;
use super::state_machine::Shared;

/// How a call through a breaker ended, in a [`BreakerEvent::Call`] and in the `outcome`
/// label of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// Ran and was classified a success.
    Success,
    /// Ran and was classified a failure.
    Failure,
    /// Ran past the call timeout and was cancelled.
    Timeout,
    /// Was not run: the breaker rejected it.
    Rejected,
    /// Ran and was classified as ignored (not counted).
    Ignored,
}

impl CallOutcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::Failure,
        Self::Timeout,
        Self::Rejected,
        Self::Ignored,
    ];

    /// The outcome in lower case: `"success"`, `"failure"`, `"timeout"`, `"rejected"`,
    /// `"ignored"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Timeout => "timeout",
            Self::Rejected => "rejected",
            Self::Ignored => "ignored",
        }
    }
}

/// Something a breaker did, as its [subscribers](crate::CircuitBreaker::subscribe) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerEvent {
    /// The breaker moved from one state to another (a manual move to the state it is in
    /// is no change).
    #[non_exhaustive]
    StateChange {
        /// The breaker's name.
        name: Arc<str>,
        /// The state it left.
        from: State,
        /// The state it entered.
        to: State,
        /// When, on the breaker's clock.
        at: Instant,
    },
    /// A call ended, or was rejected.
    #[non_exhaustive]
    Call {
        /// The breaker's name.
        name: Arc<str>,
        /// How it ended.
        outcome: CallOutcome,
        /// How long it ran: zero for a rejected call, and for one admitted before anything
        /// (a subscriber, a timed listener) timed the breaker's calls and not sampled by
        /// the metrics.
        duration: Duration,
    },
}

impl BreakerEvent {
    /// The name of the breaker the event comes from.
    pub fn name(&self) -> &str {
        match self {
            Self::StateChange { name, .. } | Self::Call { name, .. } => name,
        }
    }
}

/// A subscription to a breaker's [events](BreakerEvent), from
/// [`CircuitBreaker::subscribe`](crate::CircuitBreaker::subscribe).
///
/// A bounded buffer (see
/// [`event_capacity`](crate::CircuitBreakerBuilder::event_capacity)) between the breaker
/// and the subscriber: a subscriber that falls behind loses the oldest events and is told
/// how many ([`RecvError::Lagged`]), it never slows a call. Dropping it unsubscribes.
pub struct BreakerEvents {
    receiver: broadcast::Receiver<BreakerEvent>,
    breaker: Weak<Shared>,
}

impl BreakerEvents {
    pub(super) fn new(shared: &Shared) -> Self {
        let sender = shared
            .events
            .get_or_init(|| broadcast::channel(shared.event_capacity).0);
        // Counted before the receiver exists, so that it misses no event sent after.
        shared.subscribers.fetch_add(1, Ordering::Relaxed);
        shared.observers.fetch_add(1, Ordering::Relaxed);
        Self {
            receiver: sender.subscribe(),
            breaker: shared.this.clone(),
        }
    }

    /// The next event, waiting for one if need be.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] with the number of events lost, when this subscriber fell
    /// more than the capacity behind (the next call returns the oldest event kept);
    /// [`RecvError::Closed`] when the breaker is gone and every event was read.
    pub async fn recv(&mut self) -> Result<BreakerEvent, RecvError> {
        self.receiver.recv().await
    }

    /// The next event if there is one, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when there is none yet; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<BreakerEvent, TryRecvError> {
        self.receiver.try_recv()
    }
}

impl Drop for BreakerEvents {
    fn drop(&mut self) {
        if let Some(shared) = self.breaker.upgrade() {
            shared.subscribers.fetch_sub(1, Ordering::Relaxed);
            shared.observers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for BreakerEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerEvents")
            .field("unread", &self.receiver.len())
            .finish_non_exhaustive()
    }
}

//! Telling the world what a breaker did: the listeners of state changes, the event
//! subscribers, and (feature `metrics`) the metrics.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::events::{BreakerEvent, CallOutcome};
use super::permit::Ticket;
use super::state::State;
use super::state_machine::Shared;
use crate::listener::{fire, fire_change};

impl Shared {
    /// Tells everyone concerned that the breaker moved from `from` to `to`; runs after the
    /// move is committed, outside the transition mutex. The listener of the state entered
    /// runs even for a manual move to the same state; the others only for a change.
    pub(super) fn changed(&self, from: State, to: State) {
        let entered = match to {
            State::Open | State::ForcedOpen => &self.listeners.on_open,
            State::HalfOpen => &self.listeners.on_half_open,
            State::Closed | State::ForcedClosed => &self.listeners.on_close,
        };
        fire(entered.as_ref(), &self.name);
        if from == to {
            return;
        }
        // Before the transition is counted, so that a breaker seen open shows the calls
        // that opened it.
        #[cfg(feature = "metrics")]
        self.flush_metrics();
        fire_change(
            self.listeners.on_state_change.as_ref(),
            &self.name,
            from,
            to,
        );
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.changed(from, to);
        }
        self.publish(|| BreakerEvent::StateChange {
            name: self.name.clone(),
            from,
            to,
            at: self.clock.now(),
        });
    }

    /// Tells the subscribers and the metrics how a call ended; `duration` is `None` for a
    /// call that was not timed (rejected, or admitted while nothing observed the breaker).
    /// The metrics count only the rare outcomes here (see `metrics`).
    pub(super) fn observe_call(&self, outcome: CallOutcome, duration: Option<Duration>) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.call(outcome);
        }
        self.publish(|| BreakerEvent::Call {
            name: self.name.clone(),
            outcome,
            duration: duration.unwrap_or_default(),
        });
    }

    /// The metrics' part of a finished call: the duration of a sampled one, and a flush
    /// of the counts (the sampled calls are one of the flush points, see `metrics`).
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    #[inline]
    pub(super) fn metrics_sample(&self, ticket: Ticket, duration: Option<Duration>) {
        #[cfg(feature = "metrics")]
        if ticket.is_sampled()
            && let Some(metrics) = &self.metrics
        {
            self.flush_sampled(metrics, duration);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (ticket, duration);
    }

    /// Sends an event to the subscribers, if there are any: without one, nothing is built
    /// or sent. Never waits: a subscriber that fell behind loses its oldest events.
    fn publish(&self, event: impl FnOnce() -> BreakerEvent) {
        if self.subscribers.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(sender) = self.events.get() {
            // An error only says that the last subscriber just left.
            let _ = sender.send(event());
        }
    }
}

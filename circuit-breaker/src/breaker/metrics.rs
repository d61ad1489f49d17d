//! Feature `metrics`: a breaker's metrics through the `metrics` facade, registered once
//! when the breaker is built so that a call touches only the handles it keeps.

use std::sync::Arc;
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, SharedString, Unit, counter, describe_counter, describe_gauge,
    describe_histogram, gauge, histogram,
};

use super::events::CallOutcome;
use super::state::State;

const STATE: &str = "portcullis_breaker_state";
const CALLS: &str = "portcullis_breaker_calls_total";
const DURATION: &str = "portcullis_breaker_call_duration_seconds";
const TRANSITIONS: &str = "portcullis_breaker_transitions_total";

/// The handles of one breaker's metrics, labelled with its name.
pub(super) struct BreakerMetrics {
    breaker: SharedString,
    state: Gauge,
    /// One per [`CallOutcome`], in the order of [`CallOutcome::ALL`].
    calls: [Counter; 5],
    duration: Histogram,
}

impl BreakerMetrics {
    /// Registers the breaker `name`'s metrics with the recorder in force (the thread's
    /// local one, else the global one); `None` when there is none, so that a build with
    /// the feature but no exporter pays nothing per call.
    pub(super) fn register(name: &Arc<str>) -> Option<Self> {
        // metrics' stand-in when no recorder is installed is a zero-sized type; a real
        // recorder holds its registry. The facade has no other way to tell them apart.
        let installed = metrics::with_recorder(|recorder| size_of_val(recorder) != 0);
        if !installed {
            return None;
        }
        describe_gauge!(
            STATE,
            "State of the circuit breaker: 0 closed, 1 half-open, 2 open."
        );
        describe_counter!(CALLS, "Calls through the circuit breaker, by outcome.");
        describe_histogram!(
            DURATION,
            Unit::Seconds,
            "How long the calls the circuit breaker ran took."
        );
        describe_counter!(
            TRANSITIONS,
            "State changes of the circuit breaker, by state left and entered."
        );
        let breaker = SharedString::from(Arc::clone(name));
        let calls = CallOutcome::ALL.map(
            |outcome| counter!(CALLS, "breaker" => breaker.clone(), "outcome" => outcome.as_str()),
        );
        let state = gauge!(STATE, "breaker" => breaker.clone());
        state.set(gauge_value(State::Closed));
        Some(Self {
            state,
            calls,
            duration: histogram!(DURATION, "breaker" => breaker.clone()),
            breaker,
        })
    }

    /// Counts a call; times it if it ran and was timed.
    pub(super) fn call(&self, outcome: CallOutcome, duration: Option<Duration>) {
        self.calls[outcome as usize].increment(1);
        if let Some(duration) = duration {
            self.duration.record(duration.as_secs_f64());
        }
    }

    /// Records a change of state. The transition's counter is looked up by name here:
    /// state changes are rare, and registering every pair up front would export series
    /// for moves that cannot happen.
    pub(super) fn changed(&self, from: State, to: State) {
        self.state.set(gauge_value(to));
        counter!(
            TRANSITIONS,
            "breaker" => self.breaker.clone(),
            "from" => from.as_str(),
            "to" => to.as_str()
        )
        .increment(1);
    }
}

/// The state as the gauge shows it: forced states read as the state they act as.
fn gauge_value(state: State) -> f64 {
    match state {
        State::Closed | State::ForcedClosed => 0.0,
        State::HalfOpen => 1.0,
        State::Open | State::ForcedOpen => 2.0,
    }
}

//! Feature `metrics`: a breaker's metrics through the `metrics` facade, registered once
//! when the breaker is built so that a call touches only the handles it keeps.
//!
//! The closed call is budgeted at a few nanoseconds over a build without the feature
//! (5 ns), so metrics are not an observer of every call:
//!
//! - **Counts are derived, not counted twice.** The breaker already counts successes and
//!   rejections in per-thread cells (see `counters`) and failures, timeouts and ignored
//!   calls in atomics. `calls_total{outcome="success"|"rejected"}` is brought up to the
//!   breaker's own totals at each *flush*; the rarer outcomes, which take the slow path
//!   anyway, are counted directly. A flush adds only what the exported counter lacks
//!   (`fetch_max` on what was exported), so concurrent flushes never count a call twice.
//! - **Durations are sampled.** Each thread times the first call it makes through a
//!   breaker, then one in [`SAMPLE_INTERVAL`], decided by a per-thread, per-breaker
//!   countdown (a plain load and store, no shared cache line). The histogram's `_count` is
//!   the number of samples, not of calls: `calls_total` counts the calls. Why 128: a
//!   sampled call costs ~220 ns (two clock readings, a histogram record, the flush, the
//!   slow path), so 1 in 64 measured +7 ns, 1 in 128 +3 to +5 (benches/, group
//!   `closed_call_observed`). Why per breaker: one countdown per thread for all breakers
//!   would be cheaper, but a thread that calls breakers in a fixed pattern (A then B on
//!   each request) would sample the same one every time.
//! - **When counts are flushed:** successes at every sampled call; successes and
//!   rejections at every state change (so a breaker that opens shows the failures that
//!   opened it), at every 256th rejection of a thread, when the breaker is dropped, and
//!   on demand: [`CircuitBreaker::flush_metrics`](super::CircuitBreaker::flush_metrics)
//!   or the process-wide [`flush_metrics`](crate::flush_metrics) (an exporter calls it
//!   before it renders). So between flushes the exported successes lag by at most
//!   `SAMPLE_INTERVAL - 1` (127) per thread that calls the breaker, and rejections by at
//!   most 255 per thread. A thread that exits loses nothing: its cells belong to the
//!   breaker, and the next flush exports them (no thread-exit hook is needed); a thread
//!   started later may take its cells over (thread ids are reused), countdown included.
//! - **Why not a per-thread pending count flushed by a TLS destructor:** the breaker's
//!   own cells already are that pending count, for free; a second one would cost the
//!   closed call another store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, SharedString, Unit, counter, describe_counter, describe_gauge,
    describe_histogram, gauge, histogram,
};

use super::counters::LocalCounter;
use super::events::CallOutcome;
use super::permit::{Ticket, TicketKind};
use super::state::State;
use super::state_machine::Shared;
use super::word::Word;

const STATE: &str = "portcullis_breaker_state";
const CALLS: &str = "portcullis_breaker_calls_total";
const DURATION: &str = "portcullis_breaker_call_duration_seconds";
const TRANSITIONS: &str = "portcullis_breaker_transitions_total";

/// Each thread times its first call through a breaker, then one call in this many.
pub(super) const SAMPLE_INTERVAL: u64 = 128;

/// A thread's rejections flush the counts once in this many. Rejections are not budgeted,
/// but an open breaker rejects at the rate calls come, so they are batched too; the same
/// interval as the open timer's clock check, so that on a timed open breaker the flush
/// falls on the rejection that takes the slow path anyway.
const REJECTION_FLUSH_INTERVAL: u64 = 256;

/// The handles of one breaker's metrics, labelled with its name.
pub(super) struct BreakerMetrics {
    breaker: SharedString,
    state: Gauge,
    /// One per [`CallOutcome`], in the order of [`CallOutcome::ALL`].
    calls: [Counter; 5],
    duration: Histogram,
    /// Calls admitted, per thread: the sampling countdown.
    admitted: LocalCounter,
    /// The successes and rejections exported so far.
    exported_successes: AtomicU64,
    exported_rejections: AtomicU64,
}

/// Every live breaker with metrics, for [`flush_all`].
static REGISTERED: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

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
        describe_counter!(
            CALLS,
            "Calls through the circuit breaker, by outcome. Exact; successes and rejections \
             are exported in batches (at most 127 successes and 255 rejections per thread \
             behind between flushes)."
        );
        describe_histogram!(
            DURATION,
            Unit::Seconds,
            "How long the calls the circuit breaker ran took, sampled: each thread's first \
             call, then one call in 128; its count is the number of samples, not of calls."
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
            admitted: LocalCounter::default(),
            exported_successes: AtomicU64::new(0),
            exported_rejections: AtomicU64::new(0),
        })
    }

    /// Whether this thread times the call it is admitting: its first, then one in
    /// [`SAMPLE_INTERVAL`].
    #[inline]
    pub(super) fn sample(&self) -> bool {
        self.admitted.increment() % SAMPLE_INTERVAL == 1
    }

    /// Counts a call that ended with a rare outcome; successes and rejections are taken
    /// from the breaker's own counts at the next flush.
    pub(super) fn call(&self, outcome: CallOutcome) {
        match outcome {
            CallOutcome::Success | CallOutcome::Rejected => {}
            _ => self.calls[outcome as usize].increment(1),
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

    /// Brings the exported successes up to `total`.
    fn flush_successes(&self, total: u64) {
        raise(
            &self.calls[CallOutcome::Success as usize],
            &self.exported_successes,
            total,
        );
    }

    /// Brings the exported rejections up to `total`.
    fn flush_rejections(&self, total: u64) {
        raise(
            &self.calls[CallOutcome::Rejected as usize],
            &self.exported_rejections,
            total,
        );
    }
}

/// Adds to `counter` what `total` has over what was `exported`; of flushes racing, each
/// adds only the part above the largest total exported before it.
fn raise(counter: &Counter, exported: &AtomicU64, total: u64) {
    let before = exported.fetch_max(total, Ordering::Relaxed);
    if total > before {
        counter.increment(total - before);
    }
}

impl Shared {
    /// Brings the exported call counts up to the breaker's own (see the module docs).
    pub(super) fn flush_metrics(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.flush_successes(self.successes.sum());
            metrics.flush_rejections(self.rejections.sum());
        }
    }

    /// A ticket the metrics time: out of line, as it is one call in many.
    #[cold]
    #[inline(never)]
    pub(super) fn sampled_ticket(&self, kind: TicketKind, word: Word) -> Ticket {
        Ticket::new(kind, word, Some(self.now_nanos())).sampled()
    }

    /// The flush of a sampled call: successes only, as each sum walks every thread's cell.
    /// Rejections need no flush here: a breaker rejects only while open or half-open, and
    /// leaving either flushes.
    pub(super) fn flush_sampled(&self, metrics: &BreakerMetrics, duration: Option<Duration>) {
        if let Some(duration) = duration {
            metrics.duration.record(duration.as_secs_f64());
        }
        metrics.flush_successes(self.successes.sum());
    }

    /// Lists the breaker for the process-wide [`flush_all`].
    pub(super) fn register_metrics(this: &Weak<Shared>) {
        let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
        registered.retain(|breaker| breaker.strong_count() != 0);
        registered.push(this.clone());
    }
}

impl Drop for Shared {
    /// A breaker's last counts are exported when it goes.
    fn drop(&mut self) {
        self.flush_metrics();
    }
}

/// Flushes every live breaker's call counts: see [`crate::flush_metrics`].
pub(crate) fn flush_all() {
    let registered: Vec<Weak<Shared>> = {
        let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
        registered.retain(|breaker| breaker.strong_count() != 0);
        registered.clone()
    };
    // Outside the lock: a flush goes to the recorder, which may take locks of its own.
    for breaker in registered.iter().filter_map(Weak::upgrade) {
        breaker.flush_metrics();
    }
}

/// Whether a thread's rejection numbered `count` (its rejection count after it) flushes.
#[inline]
pub(super) fn flushes_rejection(count: u64) -> bool {
    count.is_multiple_of(REJECTION_FLUSH_INTERVAL)
}

/// The state as the gauge shows it: forced states read as the state they act as.
fn gauge_value(state: State) -> f64 {
    match state {
        State::Closed | State::ForcedClosed => 0.0,
        State::HalfOpen => 1.0,
        State::Open | State::ForcedOpen => 2.0,
    }
}

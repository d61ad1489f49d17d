//! The state machine: admission, counting, and the outcome of each settled call.
//!
//! The hot path is a few atomic operations on the packed state [`Word`]: no lock and no
//! heap allocation per call. The transition mutex is taken only to move between phases
//! (see `transitions`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::counters::{LocalCounter, Padded};
use super::events::{BreakerEvent, CallOutcome};
use super::failure_rate::FailureRateWindow;
use super::permit::{Ticket, TicketKind};
use super::word::{
    FORCED_CLOSED, PHASE_AND_COUNT, PHASE_CLOSED, PHASE_HALF_OPEN, PHASE_OPEN, WORD_FORCED_OPEN,
    WORD_OPEN_TIMED, Word,
};
use crate::clock::Clock;
use crate::config::{CircuitBreakerBuilder, FailurePolicy, Outcome};
use crate::listener::{Listeners, fire, fire_timed};

/// One rejection in this many, per thread, reads the clock even while the timer runs, so
/// that a runtime too busy to fire the timer delays half-opening by a bounded number of
/// rejections rather than forever.
const CLOCK_CHECK_INTERVAL: u64 = 256;

/// One breaker's state, settings and counters, shared by its clones and its calls.
pub(crate) struct Shared {
    pub(super) name: Arc<str>,
    pub(super) word: Padded<AtomicU64>,
    pub(super) open_until_nanos: AtomicU64,
    /// A clock reading no older than the open timer's tick, while the word is open-timed.
    pub(super) recent_nanos: AtomicU64,
    pub(super) half_open_since_nanos: AtomicU64,
    pub(super) reset_timeout_nanos: AtomicU64,
    pub(super) successes: LocalCounter,
    pub(super) failures: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) slow_calls: AtomicU64,
    pub(super) rejections: LocalCounter,
    pub(super) ignored: AtomicU64,
    pub(super) jitter_state: AtomicU64,
    pub(super) transition: Mutex<()>,
    pub(super) window: Option<FailureRateWindow>,
    pub(super) max_failures: u32,
    pub(super) base_reset_nanos: u64,
    pub(super) max_reset_nanos: u64,
    pub(super) backoff: f64,
    pub(super) random_factor: f64,
    pub(super) max_half_open_wait_nanos: Option<u64>,
    pub(super) half_open_permits: u16,
    pub(super) half_open_successes: u16,
    pub(super) slow_call_nanos: Option<u64>,
    pub(super) call_timeout: Option<Duration>,
    /// How many want to know each call's outcome and duration: the listeners and the
    /// slow-call threshold (one for all) and each event subscriber. While none do, calls
    /// admitted by a closed breaker are not timed. The metrics are no observer: they
    /// sample (see `metrics`).
    pub(super) observers: AtomicUsize,
    /// Without observers, a success needs only a counter and a load: no window.
    pub(super) plain_successes: bool,
    /// The event subscribers; the channel is made for the first.
    pub(super) subscribers: AtomicUsize,
    pub(super) events: OnceLock<broadcast::Sender<BreakerEvent>>,
    pub(super) event_capacity: usize,
    #[cfg(feature = "metrics")]
    pub(super) metrics: Option<super::metrics::BreakerMetrics>,
    pub(super) listeners: Listeners,
    pub(super) clock: Arc<dyn Clock>,
    /// The clock follows tokio's timer, so open periods may be timed by the runtime.
    pub(super) timed_opening: bool,
    pub(super) origin: Instant,
    /// This breaker, for the open timer's task (which must not keep it alive).
    pub(super) this: Weak<Shared>,
}

pub(super) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    /// The state of a new, closed breaker; `builder` was checked by
    /// [`CircuitBreakerBuilder::validate`].
    pub(super) fn from_builder(builder: CircuitBreakerBuilder, this: Weak<Shared>) -> Self {
        let max_reset_timeout = builder.effective_max_reset_timeout();
        let (max_failures, window) = match builder.policy {
            FailurePolicy::ConsecutiveFailures { max_failures } => (max_failures, None),
            FailurePolicy::FailureRate {
                threshold,
                window,
                minimum_calls,
            } => (
                u32::MAX,
                Some(FailureRateWindow::new(threshold, window, minimum_calls)),
            ),
        };
        let measures_calls =
            builder.slow_call_threshold.is_some() || builder.listeners.time_calls();
        let listeners = builder.listeners;
        #[cfg(feature = "metrics")]
        let metrics = super::metrics::BreakerMetrics::register(&builder.name);
        #[cfg(feature = "metrics")]
        if metrics.is_some() {
            Self::register_metrics(&this);
        }
        let observers = usize::from(measures_calls);
        let origin = builder.clock.now();
        Self {
            name: builder.name,
            word: Padded(AtomicU64::new(Word::new(PHASE_CLOSED, 0, 0, 0).0)),
            open_until_nanos: AtomicU64::new(0),
            recent_nanos: AtomicU64::new(0),
            half_open_since_nanos: AtomicU64::new(0),
            reset_timeout_nanos: AtomicU64::new(nanos(builder.reset_timeout)),
            successes: LocalCounter::default(),
            failures: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            slow_calls: AtomicU64::new(0),
            rejections: LocalCounter::default(),
            ignored: AtomicU64::new(0),
            jitter_state: AtomicU64::new(RandomState::new().build_hasher().finish()),
            transition: Mutex::new(()),
            max_failures,
            base_reset_nanos: nanos(builder.reset_timeout),
            max_reset_nanos: nanos(max_reset_timeout),
            backoff: builder.exponential_backoff,
            random_factor: builder.random_factor,
            max_half_open_wait_nanos: builder.max_half_open_wait.map(nanos),
            half_open_permits: builder.half_open_permits,
            half_open_successes: builder.half_open_successes,
            slow_call_nanos: builder.slow_call_threshold.map(nanos),
            call_timeout: builder.call_timeout,
            observers: AtomicUsize::new(observers),
            plain_successes: window.is_none(),
            subscribers: AtomicUsize::new(0),
            events: OnceLock::new(),
            event_capacity: builder.event_capacity,
            #[cfg(feature = "metrics")]
            metrics,
            window,
            listeners,
            timed_opening: builder.clock.follows_tokio_timer(),
            clock: builder.clock,
            origin,
            this,
        }
    }

    #[inline]
    pub(super) fn now_nanos(&self) -> u64 {
        nanos(self.clock.now().saturating_duration_since(self.origin))
    }

    #[inline]
    pub(super) fn load(&self) -> Word {
        Word(self.word.0.load(Ordering::Acquire))
    }

    pub(super) fn compare_exchange(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .0
            .compare_exchange_weak(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ()> {
        self.transition
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a call or says how long until the breaker half-opens.
    #[allow(clippy::inline_always)] // the closed-state fast path, measured in benches/
    #[inline(always)]
    pub(super) fn admit(&self) -> Result<Ticket, Duration> {
        let word = self.load();
        if word.phase() == PHASE_CLOSED && !self.observed() {
            #[cfg(feature = "metrics")]
            if let Some(metrics) = &self.metrics
                && metrics.sample()
            {
                return Ok(self.sampled_ticket(TicketKind::Closed, word));
            }
            return Ok(Ticket::new(TicketKind::Closed, word, None));
        }
        let masked = word.0 & PHASE_AND_COUNT;
        if (masked == WORD_OPEN_TIMED || masked == WORD_FORCED_OPEN)
            && let Some(remaining) = self.reject_without_clock(masked)
        {
            return Err(remaining);
        }
        self.admit_slow()
    }

    /// Whether anything wants each call's outcome and duration.
    #[inline]
    pub(super) fn observed(&self) -> bool {
        self.observers.load(Ordering::Relaxed) != 0
    }

    /// Rejects a call to a breaker forced open, or open with its timer running, or says
    /// that this one should read the clock after all.
    #[inline]
    fn reject_without_clock(&self, masked: u64) -> Option<Duration> {
        let cell = self.rejections.cell();
        let count = cell.load(Ordering::Relaxed);
        let remaining = if masked == WORD_OPEN_TIMED {
            if count % CLOCK_CHECK_INTERVAL == CLOCK_CHECK_INTERVAL - 1 {
                return None;
            }
            // Overstates the time left by at most the timer's tick (see `timer`).
            let until = self.open_until_nanos.load(Ordering::Relaxed);
            until.saturating_sub(self.recent_nanos.load(Ordering::Relaxed))
        } else {
            self.reset_timeout_nanos.load(Ordering::Relaxed)
        };
        cell.store(count.wrapping_add(1), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if super::metrics::flushes_rejection(count.wrapping_add(1)) {
            self.flush_metrics();
        }
        fire(self.listeners.on_call_breaker_open.as_ref(), &self.name);
        if self.observed() {
            self.observe_call(CallOutcome::Rejected, None);
        }
        Some(Duration::from_nanos(remaining))
    }

    #[inline(never)]
    fn admit_slow(&self) -> Result<Ticket, Duration> {
        let mut word = self.load();
        loop {
            match word.phase() {
                PHASE_CLOSED => return Ok(self.ticket(TicketKind::Closed, word)),
                PHASE_OPEN => {
                    let now = self.now_nanos();
                    let until = self.open_until_nanos.load(Ordering::Acquire);
                    if now < until {
                        return Err(self.reject(Duration::from_nanos(until - now)));
                    }
                    self.half_open(word.generation(), now);
                }
                PHASE_HALF_OPEN => {
                    if word.permits() < self.half_open_permits {
                        let taken = word.with_permits(word.permits() + 1);
                        match self.compare_exchange(word, taken) {
                            Ok(()) => return Ok(self.ticket(TicketKind::Probe, word)),
                            Err(current) => {
                                word = current;
                                continue;
                            }
                        }
                    }
                    let expired = self.max_half_open_wait_nanos.is_some_and(|wait| {
                        let since = self.half_open_since_nanos.load(Ordering::Acquire);
                        self.now_nanos().saturating_sub(since) >= wait
                    });
                    if !expired {
                        return Err(self.reject(Duration::ZERO));
                    }
                    self.trip(PHASE_HALF_OPEN, word.generation(), true);
                }
                _ => {
                    if word.count() == FORCED_CLOSED {
                        return Ok(self.ticket(TicketKind::Bypass, word));
                    }
                    let hint = self.reset_timeout_nanos.load(Ordering::Relaxed);
                    return Err(self.reject(Duration::from_nanos(hint)));
                }
            }
            word = self.load();
        }
    }

    #[inline]
    fn ticket(&self, kind: TicketKind, word: Word) -> Ticket {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics
            && metrics.sample()
        {
            return self.sampled_ticket(kind, word);
        }
        let started_nanos = self.observed().then(|| self.now_nanos());
        Ticket::new(kind, word, started_nanos)
    }

    fn reject(&self, remaining: Duration) -> Duration {
        let count = self.rejections.increment();
        #[cfg(feature = "metrics")]
        if super::metrics::flushes_rejection(count) {
            self.flush_metrics();
        }
        #[cfg(not(feature = "metrics"))]
        let _ = count;
        fire(self.listeners.on_call_breaker_open.as_ref(), &self.name);
        self.observe_call(CallOutcome::Rejected, None);
        remaining
    }

    /// How long a call has run; `None` if it was admitted while nothing timed calls.
    fn elapsed(&self, ticket: Ticket) -> Option<Duration> {
        let started = ticket.started_nanos()?;
        Some(Duration::from_nanos(
            self.now_nanos().saturating_sub(started),
        ))
    }

    /// Records a finished call.
    #[allow(clippy::inline_always)] // the closed-state fast path, measured in benches/
    #[inline(always)]
    pub(super) fn complete(&self, ticket: Ticket, outcome: Outcome) {
        if self.plain_successes
            && outcome == Outcome::Success
            && !self.observed()
            && ticket.is_plain_closed()
        {
            self.successes.increment();
            if self.load().count() != 0 {
                self.closed_success(ticket.generation());
            }
            return;
        }
        self.complete_slow(ticket, outcome);
    }

    #[inline(never)]
    fn complete_slow(&self, ticket: Ticket, outcome: Outcome) {
        let timed = self.elapsed(ticket);
        let elapsed = timed.unwrap_or_default();
        let observed = match outcome {
            Outcome::Success => CallOutcome::Success,
            Outcome::Failure => CallOutcome::Failure,
            Outcome::Ignored => CallOutcome::Ignored,
        };
        // Before the call's effect on the state, so that subscribers see the call first.
        self.observe_call(observed, timed);
        let failed = match outcome {
            Outcome::Success => {
                self.successes.increment();
                let slow = self
                    .slow_call_nanos
                    .is_some_and(|limit| nanos(elapsed) > limit);
                if slow {
                    self.slow_calls.fetch_add(1, Ordering::Relaxed);
                }
                slow
            }
            Outcome::Failure => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                true
            }
            Outcome::Ignored => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
                self.release(ticket);
                self.metrics_sample(ticket, timed);
                return;
            }
        };
        // Counted, before any state change: a flush here includes this call.
        self.metrics_sample(ticket, timed);
        self.settle(ticket, failed);
        match outcome {
            Outcome::Success => {
                fire_timed(self.listeners.on_call_success.as_ref(), &self.name, elapsed);
            }
            _ => fire_timed(self.listeners.on_call_failure.as_ref(), &self.name, elapsed),
        }
    }

    /// Records a call cancelled by the call timeout.
    pub(super) fn complete_timeout(&self, ticket: Ticket, elapsed: Duration) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
        self.observe_call(CallOutcome::Timeout, Some(elapsed));
        self.metrics_sample(ticket, Some(elapsed));
        self.settle(ticket, true);
        fire_timed(self.listeners.on_call_timeout.as_ref(), &self.name, elapsed);
    }

    /// Gives back a half-open permit whose call ended without a verdict.
    pub(super) fn release(&self, ticket: Ticket) {
        if ticket.kind() != TicketKind::Probe {
            return;
        }
        let mut word = self.load();
        while word.is(PHASE_HALF_OPEN, ticket.generation()) && word.permits() > 0 {
            match self.compare_exchange(word, word.with_permits(word.permits() - 1)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    #[inline]
    fn settle(&self, ticket: Ticket, failed: bool) {
        match ticket.kind() {
            TicketKind::Bypass => {}
            TicketKind::Closed => {
                if let Some(window) = &self.window {
                    if self.load().is(PHASE_CLOSED, ticket.generation()) && window.record(failed) {
                        self.trip(PHASE_CLOSED, ticket.generation(), false);
                    }
                } else if failed {
                    self.closed_failure(ticket.generation());
                } else {
                    self.closed_success(ticket.generation());
                }
            }
            TicketKind::Probe => {
                if failed {
                    self.trip(PHASE_HALF_OPEN, ticket.generation(), true);
                } else {
                    self.probe_success(ticket.generation());
                }
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn closed_success(&self, generation: u64) {
        let mut word = self.load();
        while word.is(PHASE_CLOSED, generation) && word.count() != 0 {
            match self.compare_exchange(word, word.with_count(0)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    fn closed_failure(&self, generation: u64) {
        let mut word = self.load();
        while word.is(PHASE_CLOSED, generation) {
            let failures = word.count().saturating_add(1);
            if failures >= self.max_failures {
                self.trip(PHASE_CLOSED, generation, false);
                return;
            }
            match self.compare_exchange(word, word.with_count(failures)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    fn probe_success(&self, generation: u64) {
        let mut word = self.load();
        while word.is(PHASE_HALF_OPEN, generation) {
            let successes = word.count() + 1;
            if successes >= u32::from(self.half_open_successes) {
                self.close_after_trials(generation);
                return;
            }
            match self.compare_exchange(word, word.with_count(successes)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }
}

//! The state machine.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU32;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;
use thread_local::ThreadLocal;
use tokio::time::Sleep;

use crate::clock::Clock;
use crate::config::{
    CircuitBreakerBuilder, Classifier, DefaultClassifier, EventListener, FailurePolicy, Listeners,
    Outcome, TimedListener,
};
use crate::error::BreakerError;

mod timer;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls run; failures are counted.
    Closed,
    /// Calls fail fast until the reset timeout passes.
    Open,
    /// A limited number of trial calls run; the rest fail fast.
    HalfOpen,
    /// Opened by hand: every call fails fast until `reset` or `force_closed`.
    ForcedOpen,
    /// Closed by hand: every call runs and nothing is counted until `reset` or
    /// `force_open`.
    ForcedClosed,
}

/// A consistent-enough picture of a breaker, read without locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The effective state (an open breaker whose reset timeout has passed reads as
    /// half-open).
    pub state: State,
    /// While closed: consecutive failures, or failures in the window for the failure-rate
    /// policy. While half-open: successful trials so far.
    pub failure_count: u32,
    /// Half-open trial permits in use or spent.
    pub half_open_permits_taken: u16,
    /// When open: time until it half-opens.
    pub remaining_open: Option<Duration>,
    /// The reset timeout now in force (after exponential backoff, before jitter).
    pub reset_timeout: Duration,
    /// Calls classified successes, since the breaker was built.
    pub successes: u64,
    /// Calls classified failures (timeouts excluded).
    pub failures: u64,
    /// Calls cancelled by the call timeout.
    pub timeouts: u64,
    /// Successful calls slower than the slow-call threshold.
    pub slow_calls: u64,
    /// Calls rejected without running.
    pub rejections: u64,
    /// Calls classified as ignored.
    pub ignored: u64,
}

// The packed state word: [phase:2][generation:14][permits taken:16][count:32].
// Phase and generation change only under the transition mutex; counts change by CAS.
const PHASE_CLOSED: u64 = 0;
const PHASE_OPEN: u64 = 1;
const PHASE_HALF_OPEN: u64 = 2;
const PHASE_FORCED: u64 = 3;
const PHASE_SHIFT: u32 = 62;
const GENERATION_SHIFT: u32 = 48;
const GENERATION_MASK: u64 = (1 << 14) - 1;
const PERMITS_SHIFT: u32 = 32;
const PERMITS_MASK: u64 = 0xFFFF;
const COUNT_MASK: u64 = 0xFFFF_FFFF;
const FORCED_OPEN: u32 = 0;
const FORCED_CLOSED: u32 = 1;
/// The count of an open word whose timer keeps `recent_nanos` fresh (see `timer`).
const OPEN_TIMED: u32 = 1;
const PHASE_AND_COUNT: u64 = (3 << PHASE_SHIFT) | COUNT_MASK;
/// The words that reject a call without reading the clock.
const WORD_OPEN_TIMED: u64 = (PHASE_OPEN << PHASE_SHIFT) | OPEN_TIMED as u64;
const WORD_FORCED_OPEN: u64 = (PHASE_FORCED << PHASE_SHIFT) | FORCED_OPEN as u64;
/// One rejection in this many, per thread, reads the clock even while the timer runs, so
/// that a runtime too busy to fire the timer delays half-opening by a bounded number of
/// rejections rather than forever.
const CLOCK_CHECK_INTERVAL: u64 = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Word(u64);

impl Word {
    fn new(phase: u64, generation: u64, permits: u16, count: u32) -> Self {
        Self(
            (phase << PHASE_SHIFT)
                | ((generation & GENERATION_MASK) << GENERATION_SHIFT)
                | (u64::from(permits) << PERMITS_SHIFT)
                | u64::from(count),
        )
    }
    #[inline]
    fn phase(self) -> u64 {
        self.0 >> PHASE_SHIFT
    }
    #[inline]
    fn generation(self) -> u64 {
        (self.0 >> GENERATION_SHIFT) & GENERATION_MASK
    }
    #[inline]
    fn permits(self) -> u16 {
        ((self.0 >> PERMITS_SHIFT) & PERMITS_MASK) as u16
    }
    #[inline]
    fn count(self) -> u32 {
        (self.0 & COUNT_MASK) as u32
    }
    #[inline]
    fn is(self, phase: u64, generation: u64) -> bool {
        self.phase() == phase && self.generation() == generation
    }
    fn with_count(self, count: u32) -> Self {
        Self((self.0 & !COUNT_MASK) | u64::from(count))
    }
    fn with_permits(self, permits: u16) -> Self {
        Self((self.0 & !(PERMITS_MASK << PERMITS_SHIFT)) | (u64::from(permits) << PERMITS_SHIFT))
    }
    fn next(self, phase: u64, count: u32) -> Self {
        Self::new(phase, self.generation() + 1, 0, count)
    }
}

/// A lock-free ring of the last calls' outcomes, for the failure-rate policy.
struct Window {
    slots: Box<[AtomicU8]>,
    cursor: AtomicU64,
    filled: AtomicI64,
    failures: AtomicI64,
    threshold: f64,
    minimum_calls: i64,
}

const SLOT_EMPTY: u8 = 0;
const SLOT_SUCCESS: u8 = 1;
const SLOT_FAILURE: u8 = 2;

impl Window {
    fn new(threshold: f64, window: u32, minimum_calls: u32) -> Self {
        let len = window.max(1);
        Self {
            slots: (0..len).map(|_| AtomicU8::new(SLOT_EMPTY)).collect(),
            cursor: AtomicU64::new(0),
            filled: AtomicI64::new(0),
            failures: AtomicI64::new(0),
            threshold: threshold.clamp(f64::MIN_POSITIVE, 1.0),
            minimum_calls: i64::from(minimum_calls.clamp(1, len)),
        }
    }

    /// Records one outcome; returns whether the failure rate now calls for tripping.
    fn record(&self, failed: bool) -> bool {
        let index =
            (self.cursor.fetch_add(1, Ordering::Relaxed) % self.slots.len() as u64) as usize;
        let new = if failed { SLOT_FAILURE } else { SLOT_SUCCESS };
        let old = self.slots[index].swap(new, Ordering::AcqRel);
        if old == SLOT_EMPTY {
            self.filled.fetch_add(1, Ordering::AcqRel);
        }
        match (old == SLOT_FAILURE, failed) {
            (false, true) => {
                self.failures.fetch_add(1, Ordering::AcqRel);
            }
            (true, false) => {
                self.failures.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
        if !failed {
            return false;
        }
        let filled = self.filled.load(Ordering::Acquire);
        let failures = self.failures.load(Ordering::Acquire).max(0);
        filled >= self.minimum_calls && failures as f64 >= self.threshold * filled as f64
    }

    fn failures(&self) -> u32 {
        self.failures
            .load(Ordering::Relaxed)
            .clamp(0, i64::from(u32::MAX)) as u32
    }

    fn clear(&self) {
        for slot in &*self.slots {
            slot.store(SLOT_EMPTY, Ordering::Relaxed);
        }
        self.cursor.store(0, Ordering::Relaxed);
        self.filled.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Release);
    }
}

/// An atomic kept on its own cache line, so that writes to its neighbours do not slow
/// its readers.
#[repr(align(64))]
#[derive(Default)]
struct Padded<T>(T);

/// A counter for the hot paths: each thread adds to its own cell, on its own cache line,
/// which only that thread writes, so counting takes a plain load and store (no atomic
/// read-modify-write) and threads counting at once share nothing.
#[derive(Default)]
struct LocalCounter {
    cells: ThreadLocal<Padded<AtomicU64>>,
}

impl LocalCounter {
    /// This thread's cell.
    #[inline]
    fn cell(&self) -> &AtomicU64 {
        match self.cells.get() {
            Some(cell) => &cell.0,
            None => self.new_cell(),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_cell(&self) -> &AtomicU64 {
        &self.cells.get_or(Padded::default).0
    }

    #[inline]
    fn increment(&self) {
        let cell = self.cell();
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    fn sum(&self) -> u64 {
        self.cells
            .iter()
            .map(|cell| cell.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
enum TicketKind {
    Closed = 1,
    Probe = 2,
    Bypass = 3,
}

/// Proof that a call was admitted, and in which state generation.
///
/// Two scalars, so that it travels in registers: the kind (never zero) and generation
/// packed in `tag`, which also gives `Option<Ticket>` its niche.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    started_nanos: u64,
    tag: NonZeroU32,
}

impl Ticket {
    #[inline]
    fn new(kind: TicketKind, word: Word, started_nanos: u64) -> Self {
        let tag = ((kind as u32) << 16) | word.generation() as u32;
        Self {
            started_nanos,
            tag: NonZeroU32::new(tag).unwrap_or(NonZeroU32::MAX),
        }
    }

    #[inline]
    fn kind(self) -> TicketKind {
        match self.tag.get() >> 16 {
            1 => TicketKind::Closed,
            2 => TicketKind::Probe,
            _ => TicketKind::Bypass,
        }
    }

    #[inline]
    fn generation(self) -> u64 {
        u64::from(self.tag.get() & 0xFFFF)
    }
}

pub(crate) struct Shared {
    word: Padded<AtomicU64>,
    open_until_nanos: AtomicU64,
    /// A clock reading no older than the open timer's tick, while the word is open-timed.
    recent_nanos: AtomicU64,
    half_open_since_nanos: AtomicU64,
    reset_timeout_nanos: AtomicU64,
    successes: LocalCounter,
    failures: AtomicU64,
    timeouts: AtomicU64,
    slow_calls: AtomicU64,
    rejections: LocalCounter,
    ignored: AtomicU64,
    jitter_state: AtomicU64,
    transition: Mutex<()>,
    window: Option<Window>,
    max_failures: u32,
    base_reset_nanos: u64,
    max_reset_nanos: u64,
    backoff: f64,
    random_factor: f64,
    max_half_open_wait_nanos: Option<u64>,
    half_open_permits: u16,
    half_open_successes: u16,
    slow_call_nanos: Option<u64>,
    pub(crate) call_timeout: Option<Duration>,
    measures_calls: bool,
    /// Successes need only a counter and a load: no timing, no window.
    plain_successes: bool,
    listeners: Listeners,
    clock: Arc<dyn Clock>,
    /// The clock follows tokio's timer, so open periods may be timed by the runtime.
    timed_opening: bool,
    origin: Instant,
    /// This breaker, for the open timer's task (which must not keep it alive).
    this: Weak<Shared>,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[inline]
fn fire(listener: Option<&EventListener>) {
    if let Some(listener) = listener {
        fire_now(listener);
    }
}

#[inline(never)]
fn fire_now(listener: &EventListener) {
    // A panicking listener must not unwind into the breaker or lose the call's result.
    let _ = catch_unwind(AssertUnwindSafe(|| listener()));
}

fn fire_timed(listener: Option<&TimedListener>, elapsed: Duration) {
    if let Some(listener) = listener {
        let _ = catch_unwind(AssertUnwindSafe(|| listener(elapsed)));
    }
}

impl Shared {
    fn from_builder(builder: CircuitBreakerBuilder, this: Weak<Shared>) -> Self {
        let (max_failures, window) = match builder.policy {
            FailurePolicy::ConsecutiveFailures { max_failures } => (max_failures.max(1), None),
            FailurePolicy::FailureRate {
                threshold,
                window,
                minimum_calls,
            } => (
                u32::MAX,
                Some(Window::new(threshold, window, minimum_calls)),
            ),
        };
        let permits = builder.half_open_permits.max(1);
        let measures_calls = builder.slow_call_threshold.is_some()
            || builder.listeners.on_call_success.is_some()
            || builder.listeners.on_call_failure.is_some();
        let listeners = builder.listeners;
        let origin = builder.clock.now();
        Self {
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
            max_reset_nanos: nanos(builder.max_reset_timeout.max(builder.reset_timeout)),
            backoff: if builder.exponential_backoff.is_finite() {
                builder.exponential_backoff.max(1.0)
            } else {
                1.0
            },
            random_factor: if builder.random_factor.is_finite() {
                builder.random_factor.max(0.0)
            } else {
                0.0
            },
            max_half_open_wait_nanos: builder.max_half_open_wait.map(nanos),
            half_open_permits: permits,
            half_open_successes: builder.half_open_successes.clamp(1, permits),
            slow_call_nanos: builder.slow_call_threshold.map(nanos),
            call_timeout: builder.call_timeout,
            measures_calls,
            plain_successes: !measures_calls && window.is_none(),
            window,
            listeners,
            timed_opening: builder.clock.follows_tokio_timer(),
            clock: builder.clock,
            origin,
            this,
        }
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        nanos(self.clock.now().saturating_duration_since(self.origin))
    }

    #[inline]
    fn load(&self) -> Word {
        Word(self.word.0.load(Ordering::Acquire))
    }

    fn compare_exchange(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .0
            .compare_exchange_weak(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.transition
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a call or says how long until the breaker half-opens.
    #[allow(clippy::inline_always)] // the closed-state fast path, measured in benches/
    #[inline(always)]
    pub(crate) fn admit(&self) -> Result<Ticket, Duration> {
        let word = self.load();
        if word.phase() == PHASE_CLOSED && !self.measures_calls {
            return Ok(Ticket::new(TicketKind::Closed, word, 0));
        }
        let masked = word.0 & PHASE_AND_COUNT;
        if (masked == WORD_OPEN_TIMED || masked == WORD_FORCED_OPEN)
            && let Some(remaining) = self.reject_without_clock(masked)
        {
            return Err(remaining);
        }
        self.admit_slow()
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
        fire(self.listeners.on_call_breaker_open.as_ref());
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
        let started_nanos = if self.measures_calls {
            self.now_nanos()
        } else {
            0
        };
        Ticket::new(kind, word, started_nanos)
    }

    fn reject(&self, remaining: Duration) -> Duration {
        self.rejections.increment();
        fire(self.listeners.on_call_breaker_open.as_ref());
        remaining
    }

    fn elapsed(&self, ticket: Ticket) -> Duration {
        if self.measures_calls {
            Duration::from_nanos(self.now_nanos().saturating_sub(ticket.started_nanos))
        } else {
            Duration::ZERO
        }
    }

    /// Records a finished call.
    #[allow(clippy::inline_always)] // the closed-state fast path, measured in benches/
    #[inline(always)]
    pub(crate) fn complete(&self, ticket: Ticket, outcome: Outcome) {
        if self.plain_successes
            && outcome == Outcome::Success
            && ticket.kind() == TicketKind::Closed
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
        let elapsed = self.elapsed(ticket);
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
                return;
            }
        };
        self.settle(ticket, failed);
        match outcome {
            Outcome::Success => fire_timed(self.listeners.on_call_success.as_ref(), elapsed),
            _ => fire_timed(self.listeners.on_call_failure.as_ref(), elapsed),
        }
    }

    /// Records a call cancelled by the call timeout.
    pub(crate) fn complete_timeout(&self, ticket: Ticket, elapsed: Duration) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
        self.settle(ticket, true);
        fire_timed(self.listeners.on_call_timeout.as_ref(), elapsed);
    }

    /// Gives back a half-open permit whose call ended without a verdict.
    pub(crate) fn release(&self, ticket: Ticket) {
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

    fn jitter(&self, reset_nanos: u64) -> u64 {
        if self.random_factor == 0.0 {
            return reset_nanos;
        }
        // splitmix64: good enough to de-synchronise retries, with no dependency.
        let mut z = self
            .jitter_state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        (reset_nanos as f64 * (1.0 + unit * self.random_factor)) as u64
    }

    /// Opens the breaker if it is still in `from` at `generation`.
    fn trip(&self, from: u64, generation: u64, back_off: bool) {
        let opened = {
            let _guard = self.lock();
            let mut word = self.load();
            if !word.is(from, generation) {
                return;
            }
            let mut reset = self.reset_timeout_nanos.load(Ordering::Relaxed);
            if back_off {
                reset = ((reset as f64 * self.backoff) as u64).min(self.max_reset_nanos);
                self.reset_timeout_nanos.store(reset, Ordering::Relaxed);
            }
            let until = self.now_nanos().saturating_add(self.jitter(reset));
            self.open_until_nanos.store(until, Ordering::Release);
            // Only counts move outside the lock, so this loop only waits out count updates.
            while let Err(current) = self.compare_exchange(word, word.next(PHASE_OPEN, 0)) {
                word = current;
            }
            word.next(PHASE_OPEN, 0).generation()
        };
        if self.timed_opening {
            timer::start(self, opened);
        }
        fire(self.listeners.on_open.as_ref());
    }

    /// Lets rejections skip the clock: the open timer has just refreshed `recent_nanos`.
    fn start_timed(&self, generation: u64) {
        let mut word = self.load();
        while word.is(PHASE_OPEN, generation) && word.count() != OPEN_TIMED {
            match self.compare_exchange(word, word.with_count(OPEN_TIMED)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    /// Sends rejections back to the clock: `recent_nanos` may be stale.
    fn stop_timed(&self, generation: u64) {
        let mut word = self.load();
        while word.is(PHASE_OPEN, generation) && word.count() == OPEN_TIMED {
            match self.compare_exchange(word, word.with_count(0)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    fn half_open(&self, generation: u64, now: u64) {
        {
            let _guard = self.lock();
            let mut word = self.load();
            if !word.is(PHASE_OPEN, generation) {
                return;
            }
            self.half_open_since_nanos.store(now, Ordering::Release);
            while let Err(current) = self.compare_exchange(word, word.next(PHASE_HALF_OPEN, 0)) {
                word = current;
            }
        }
        fire(self.listeners.on_half_open.as_ref());
    }

    fn close_after_trials(&self, generation: u64) {
        {
            let _guard = self.lock();
            let mut word = self.load();
            if !word.is(PHASE_HALF_OPEN, generation) {
                return;
            }
            self.reset_timeout_nanos
                .store(self.base_reset_nanos, Ordering::Relaxed);
            if let Some(window) = &self.window {
                window.clear();
            }
            while let Err(current) = self.compare_exchange(word, word.next(PHASE_CLOSED, 0)) {
                word = current;
            }
        }
        fire(self.listeners.on_close.as_ref());
    }

    /// Moves to `phase` unconditionally; returns the previous word.
    fn set(&self, phase: u64, count: u32) -> Word {
        let _guard = self.lock();
        let mut word = self.load();
        if phase == PHASE_CLOSED {
            self.reset_timeout_nanos
                .store(self.base_reset_nanos, Ordering::Relaxed);
            if let Some(window) = &self.window {
                window.clear();
            }
        }
        loop {
            match self.compare_exchange(word, word.next(phase, count)) {
                Ok(()) => return word,
                Err(current) => word = current,
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let word = self.load();
        let mut remaining_open = None;
        let state = match word.phase() {
            PHASE_CLOSED => State::Closed,
            PHASE_OPEN => {
                let until = self.open_until_nanos.load(Ordering::Acquire);
                let now = self.now_nanos();
                if now < until {
                    remaining_open = Some(Duration::from_nanos(until - now));
                    State::Open
                } else {
                    State::HalfOpen
                }
            }
            PHASE_HALF_OPEN => State::HalfOpen,
            _ if word.count() == FORCED_CLOSED => State::ForcedClosed,
            _ => State::ForcedOpen,
        };
        let failure_count = match (&self.window, word.phase()) {
            (Some(window), PHASE_CLOSED) => window.failures(),
            (_, PHASE_CLOSED | PHASE_HALF_OPEN) => word.count(),
            _ => 0,
        };
        Snapshot {
            state,
            failure_count,
            half_open_permits_taken: if word.phase() == PHASE_HALF_OPEN {
                word.permits()
            } else {
                0
            },
            remaining_open,
            reset_timeout: Duration::from_nanos(self.reset_timeout_nanos.load(Ordering::Relaxed)),
            successes: self.successes.sum(),
            failures: self.failures.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            slow_calls: self.slow_calls.load(Ordering::Relaxed),
            rejections: self.rejections.sum(),
            ignored: self.ignored.load(Ordering::Relaxed),
        }
    }
}

pin_project! {
    /// The future of [`CircuitBreaker::call`] and [`CircuitBreaker::call_with`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<'a, F, Fut, C> {
        shared: &'a Shared,
        classifier: C,
        operation: Option<F>,
        #[pin]
        running: Option<Fut>,
        deadline: Option<Pin<Box<Sleep>>>,
        ticket: Option<Ticket>,
    }

    impl<F, Fut, C> PinnedDrop for CallFuture<'_, F, Fut, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(ticket) = this.ticket.take() {
                this.shared.release(ticket);
            }
        }
    }
}

/// The call timeout's timer: on the heap, so that calls without a timeout do not carry
/// its weight in their future, and out of line, so that their `poll` stays small.
#[inline(never)]
fn deadline(limit: Duration) -> Pin<Box<Sleep>> {
    Box::pin(tokio::time::sleep(limit))
}

/// Whether the call timeout has passed; then the timer is dropped. Out of line, so that
/// `CallFuture::poll` stays small enough to be inlined.
#[inline(never)]
fn expired(deadline: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> bool {
    let expired = deadline
        .as_mut()
        .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
    if expired {
        *deadline = None;
    }
    expired
}

impl<F, Fut, C, T, E> Future for CallFuture<'_, F, Fut, C>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classifier<T, E>,
{
    type Output = Result<T, BreakerError<E>>;

    // Each `call` site has its own `F` and `Fut`, so this is instantiated once per site and
    // inlining duplicates nothing; inlined, the result is built where the caller wants it
    // (returned through memory, a 40-byte result costs a store-forwarding stall: benches/).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // A closed-state ticket has nothing to give back if the call is dropped or panics,
        // so it stays out of the future unless the call is still running after this poll.
        let mut held = None;
        if let Some(operation) = this.operation.take() {
            let ticket = match this.shared.admit() {
                Ok(ticket) => ticket,
                Err(remaining) => return Poll::Ready(Err(BreakerError::Open { remaining })),
            };
            if ticket.kind() == TicketKind::Closed {
                held = Some(ticket);
            } else {
                *this.ticket = Some(ticket);
            }
            if let Some(limit) = this.shared.call_timeout {
                *this.deadline = Some(deadline(limit));
            }
            this.running.set(Some(operation()));
        }
        let running = this
            .running
            .as_mut()
            .as_pin_mut()
            .expect("CallFuture polled after completion");
        if let Poll::Ready(result) = running.poll(cx) {
            this.running.set(None);
            if let Some(ticket) = held.or_else(|| this.ticket.take()) {
                this.shared
                    .complete(ticket, this.classifier.classify(&result));
            }
            return Poll::Ready(result.map_err(BreakerError::Inner));
        }
        if held.is_some() {
            *this.ticket = held;
        }
        if this.deadline.is_some() && expired(this.deadline, cx) {
            // Cancel the call now, not when this future is dropped.
            this.running.set(None);
            let elapsed = this.shared.call_timeout.unwrap_or_default();
            if let Some(ticket) = this.ticket.take() {
                this.shared.complete_timeout(ticket, elapsed);
            }
            return Poll::Ready(Err(BreakerError::Timeout { elapsed }));
        }
        Poll::Pending
    }
}

impl<F, Fut, C> fmt::Debug for CallFuture<'_, F, Fut, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture")
            .field("started", &self.operation.is_none())
            .field("running", &self.running.is_some())
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

/// An admitted call. Dropped before it completes (the call was cancelled), it gives its
/// half-open permit back without counting anything.
pub(crate) struct Permit<S: Deref<Target = Shared>> {
    shared: S,
    ticket: Ticket,
    settled: bool,
}

#[cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]
impl<S: Deref<Target = Shared>> Permit<S> {
    #[inline]
    pub(crate) fn admit(shared: S) -> Result<Self, Duration> {
        let ticket = shared.admit()?;
        Ok(Self {
            shared,
            ticket,
            settled: false,
        })
    }

    #[inline]
    pub(crate) fn complete(&mut self, outcome: Outcome) {
        self.settled = true;
        self.shared.complete(self.ticket, outcome);
    }

    pub(crate) fn call_timeout(&self) -> Option<Duration> {
        self.shared.call_timeout
    }

    pub(crate) fn complete_timeout(&mut self, elapsed: Duration) {
        self.settled = true;
        self.shared.complete_timeout(self.ticket, elapsed);
    }
}

impl<S: Deref<Target = Shared>> Drop for Permit<S> {
    #[inline]
    fn drop(&mut self) {
        if !self.settled {
            self.shared.release(self.ticket);
        }
    }
}

impl<S: Deref<Target = Shared>> fmt::Debug for Permit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("ticket", &self.ticket)
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

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
            .field("snapshot", &self.snapshot())
            .field("listeners", &self.shared.listeners)
            .field("clock", &self.shared.clock)
            .finish_non_exhaustive()
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreakerBuilder::default().build()
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    pub(crate) fn from_builder(builder: CircuitBreakerBuilder) -> Self {
        Self {
            shared: Arc::new_cyclic(|this| Shared::from_builder(builder, this.clone())),
        }
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
        CallFuture {
            shared: &self.shared,
            classifier,
            operation: Some(operation),
            running: None,
            deadline: None,
            ticket: None,
        }
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
    /// [`force_closed`](Self::force_closed); runs `on_open`.
    pub fn force_open(&self) {
        self.shared.set(PHASE_FORCED, FORCED_OPEN);
        fire(self.shared.listeners.on_open.as_ref());
    }

    /// Admits every call and counts nothing until [`reset`](Self::reset) or
    /// [`force_open`](Self::force_open); runs `on_close`.
    pub fn force_closed(&self) {
        self.shared.set(PHASE_FORCED, FORCED_CLOSED);
        fire(self.shared.listeners.on_close.as_ref());
    }

    /// Returns to a fresh closed state (counts cleared, reset timeout back to its configured
    /// value); runs `on_close` if the breaker was not closed.
    pub fn reset(&self) {
        let previous = self.shared.set(PHASE_CLOSED, 0);
        if previous.phase() != PHASE_CLOSED {
            fire(self.shared.listeners.on_close.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_word_packs_and_unpacks_every_field() {
        let word = Word::new(PHASE_HALF_OPEN, 5, 3, 7);
        assert_eq!(word.phase(), PHASE_HALF_OPEN);
        assert_eq!(word.generation(), 5);
        assert_eq!(word.permits(), 3);
        assert_eq!(word.count(), 7);
        let changed = word.with_permits(9).with_count(u32::MAX);
        assert_eq!(
            (changed.phase(), changed.generation()),
            (PHASE_HALF_OPEN, 5)
        );
        assert_eq!((changed.permits(), changed.count()), (9, u32::MAX));
    }

    #[test]
    fn a_ticket_keeps_its_kind_and_generation() {
        for kind in [TicketKind::Closed, TicketKind::Probe, TicketKind::Bypass] {
            for generation in [0, 1, GENERATION_MASK] {
                let word = Word::new(PHASE_HALF_OPEN, generation, 0, 0);
                let ticket = Ticket::new(kind, word, 42);
                assert_eq!(ticket.kind(), kind);
                assert_eq!(ticket.generation(), generation);
                assert_eq!(ticket.started_nanos, 42);
            }
        }
        assert_eq!(
            size_of::<Option<Ticket>>(),
            size_of::<Ticket>(),
            "the tag is the niche"
        );
    }

    #[test]
    fn the_generation_wraps_without_touching_the_phase() {
        let last = Word::new(PHASE_CLOSED, GENERATION_MASK, 0, 0);
        let next = last.next(PHASE_FORCED, FORCED_CLOSED);
        assert_eq!(next.generation(), 0);
        assert_eq!(next.phase(), PHASE_FORCED);
        assert_eq!(next.count(), FORCED_CLOSED);
    }

    #[test]
    fn the_window_forgets_outcomes_older_than_its_length() {
        let window = Window::new(0.5, 4, 4);
        assert!(!window.record(true));
        assert!(!window.record(true));
        assert!(!window.record(false));
        assert!(window.record(true), "3 of 4 failed");
        for _ in 0..4 {
            window.record(false);
        }
        assert_eq!(window.failures(), 0);
        window.clear();
        assert!(
            !window.record(true),
            "fewer than the minimum calls after clearing"
        );
    }
}

//! The breaker's public state and its lock-free [`Snapshot`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::state_machine::Shared;
use super::word::{FORCED_CLOSED, PHASE_CLOSED, PHASE_HALF_OPEN, PHASE_OPEN, Word};

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

impl State {
    /// The state in snake case, as in the metrics' labels: `"closed"`, `"open"`,
    /// `"half_open"`, `"forced_open"`, `"forced_closed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::ForcedClosed => "forced_closed",
        }
    }

    /// The state a word records (an open word reads as open, whatever the clock says).
    pub(super) fn of(word: Word) -> Self {
        match word.phase() {
            PHASE_CLOSED => Self::Closed,
            PHASE_OPEN => Self::Open,
            PHASE_HALF_OPEN => Self::HalfOpen,
            _ if word.count() == FORCED_CLOSED => Self::ForcedClosed,
            _ => Self::ForcedOpen,
        }
    }
}

impl Shared {
    /// State and counters, read without locks.
    pub(super) fn snapshot(&self) -> Snapshot {
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

//! Injectable time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time for reset timeouts, backoff and call durations.
///
/// The default, [`TokioClock`], follows tokio's clock, so tests that call
/// `tokio::time::pause()` control it; [`ManualClock`] is moved by hand.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Whether this clock reads the same time as the tokio runtime's timer, paused time
    /// included, so that a tokio timer set for an instant of this clock fires when the
    /// clock reaches it.
    ///
    /// When it does, a breaker that trips inside a tokio runtime schedules its move to
    /// half-open on that runtime's timer, and rejects calls while open without reading the
    /// clock. Default is `false`: the breaker reads the clock at every rejection.
    fn follows_tokio_timer(&self) -> bool {
        false
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn follows_tokio_timer(&self) -> bool {
        (**self).follows_tokio_timer()
    }
}

/// The default clock: `tokio::time::Instant::now()`, which honours `tokio::time::pause()`
/// and falls back to the system's monotonic clock outside a paused runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn follows_tokio_timer(&self) -> bool {
        true
    }
}

/// The system's monotonic clock, `std::time::Instant::now()`, ignoring tokio's paused
/// time (so an open breaker on this clock reads it at every rejection).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use portcullis_circuit_breaker::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(clock.now() - start, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    origin: Instant,
    offset_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock frozen at the current instant.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            offset_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }
}

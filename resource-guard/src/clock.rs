//! [`Clock`], the injectable source of "now" for time claims and JWKS rate limits.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the guard reads the current time.
///
/// The default is [`SystemClock`]. Tests inject their own (any
/// `Fn() -> SystemTime + Send + Sync` closure is a clock) to check expiry, `nbf` and the
/// JWKS refetch interval without sleeping.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use portcullis_resource_guard::Clock;
///
/// let fixed = || SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(fixed.unix_seconds(), 1_700_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole seconds since the Unix epoch (0 before it).
    fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F> Clock for F
where
    F: Fn() -> SystemTime + Send + Sync + 'static,
{
    fn now(&self) -> SystemTime {
        self()
    }
}

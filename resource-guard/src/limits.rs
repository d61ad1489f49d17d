//! The ranges the builder's settings must fall in, and their checks.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::build_error::GuardBuildError;
use crate::jwks::MAX_REFRESH;

pub(crate) const LEEWAY: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(3600);
pub(crate) const TOKEN_SIZE: RangeInclusive<usize> = 64..=1024 * 1024;
pub(crate) const FETCH_TIMEOUT: RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(300);
pub(crate) const JWKS_INTERVAL: RangeInclusive<Duration> = Duration::from_secs(1)..=MAX_REFRESH;
pub(crate) const CACHE_CAPACITY: RangeInclusive<usize> = 0..=10_000_000;

pub(crate) fn duration_in(
    setting: &'static str,
    value: Duration,
    range: &RangeInclusive<Duration>,
    allowed: &'static str,
) -> Result<(), GuardBuildError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(GuardBuildError::OutOfRange {
            setting,
            value,
            allowed,
        })
    }
}

pub(crate) fn count_in(
    setting: &'static str,
    value: usize,
    range: &RangeInclusive<usize>,
    allowed: &'static str,
) -> Result<(), GuardBuildError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(GuardBuildError::CountOutOfRange {
            setting,
            value,
            allowed,
        })
    }
}

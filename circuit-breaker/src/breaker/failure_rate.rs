//! The failure-rate policy's window: a lock-free ring of the last calls' outcomes.

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

const SLOT_EMPTY: u8 = 0;
const SLOT_SUCCESS: u8 = 1;
const SLOT_FAILURE: u8 = 2;

/// The outcomes of the last `window` calls, and how many of them failed.
pub(super) struct FailureRateWindow {
    slots: Box<[AtomicU8]>,
    cursor: AtomicU64,
    filled: AtomicI64,
    failures: AtomicI64,
    threshold: f64,
    minimum_calls: i64,
}

impl FailureRateWindow {
    /// A window of `window` calls (at least 1) that trips at a failure share of
    /// `threshold` once `minimum_calls` (1 to `window`) are recorded; the builder checks
    /// both ranges.
    pub(super) fn new(threshold: f64, window: u32, minimum_calls: u32) -> Self {
        Self {
            slots: (0..window).map(|_| AtomicU8::new(SLOT_EMPTY)).collect(),
            cursor: AtomicU64::new(0),
            filled: AtomicI64::new(0),
            failures: AtomicI64::new(0),
            threshold,
            minimum_calls: i64::from(minimum_calls),
        }
    }

    /// Records one outcome; returns whether the failure rate now calls for tripping.
    pub(super) fn record(&self, failed: bool) -> bool {
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

    /// Failures among the recorded calls.
    pub(super) fn failures(&self) -> u32 {
        self.failures
            .load(Ordering::Relaxed)
            .clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Forgets every outcome.
    pub(super) fn clear(&self) {
        for slot in &*self.slots {
            slot.store(SLOT_EMPTY, Ordering::Relaxed);
        }
        self.cursor.store(0, Ordering::Relaxed);
        self.filled.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_outcomes_older_than_its_length() {
        let window = FailureRateWindow::new(0.5, 4, 4);
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

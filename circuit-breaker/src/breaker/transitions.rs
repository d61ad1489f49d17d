//! The moves between phases, each taken under the transition mutex: trip open (with
//! backoff and jitter), half-open, close after the trials, and the manual moves.

use std::sync::atomic::Ordering;

use super::state::State;
use super::state_machine::Shared;
use super::timer;
use super::word::{OPEN_TIMED, PHASE_CLOSED, PHASE_HALF_OPEN, PHASE_OPEN, Word};

impl Shared {
    pub(super) fn jitter(&self, reset_nanos: u64) -> u64 {
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
    pub(super) fn trip(&self, from: u64, generation: u64, back_off: bool) {
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
        let from = if from == PHASE_CLOSED {
            State::Closed
        } else {
            State::HalfOpen
        };
        self.changed(from, State::Open);
    }

    /// Lets rejections skip the clock: the open timer has just refreshed `recent_nanos`.
    pub(super) fn start_timed(&self, generation: u64) {
        let mut word = self.load();
        while word.is(PHASE_OPEN, generation) && word.count() != OPEN_TIMED {
            match self.compare_exchange(word, word.with_count(OPEN_TIMED)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    /// Sends rejections back to the clock: `recent_nanos` may be stale.
    pub(super) fn stop_timed(&self, generation: u64) {
        let mut word = self.load();
        while word.is(PHASE_OPEN, generation) && word.count() == OPEN_TIMED {
            match self.compare_exchange(word, word.with_count(0)) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    pub(super) fn half_open(&self, generation: u64, now: u64) {
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
        self.changed(State::Open, State::HalfOpen);
    }

    pub(super) fn close_after_trials(&self, generation: u64) {
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
        self.changed(State::HalfOpen, State::Closed);
    }

    /// Moves to `phase` unconditionally; returns the previous word.
    pub(super) fn set(&self, phase: u64, count: u32) -> Word {
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
}

//! The open period's timer: Akka's scheduled move from open to half-open, so that
//! rejections need not read the clock.
//!
//! When a breaker whose clock follows tokio's timer trips inside a tokio runtime, it
//! spawns one small task on that runtime. While the breaker stays open in that generation,
//! the task wakes every tick, stores a fresh clock reading in `recent_nanos` and marks the
//! state word open-timed; rejections then read only atomics and report
//! `open_until - recent_nanos`, which overstates the time left by at most one tick. The
//! tick is an eighth of the time left, between 1 ms and 1 s. In the last
//! [`FINAL_NANOS`] the task leaves the word untimed (callers read the clock, as without a
//! timer), and at the deadline it moves the breaker to half-open itself.
//!
//! The waker the task gives its timer clears the open-timed mark the moment the timer
//! fires, inside the runtime's timer driver, before the task (or anything the runtime polls
//! after the driver) runs. So a caller never takes the clock-free path once the instant a
//! tick was set for has passed: with tokio's paused time, `tokio::time::advance` past a
//! tick or the deadline is seen by the very next call, exactly as with the clock.
//!
//! If the task is dropped unfinished (its runtime shut down) it clears the mark too, and
//! the breaker falls back to the clock; it can never stay open for good.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::Sleep;

use super::state_machine::Shared;
use super::word::PHASE_OPEN;

/// The last stretch of an open period, in which callers read the clock again, so that the
/// timer's millisecond rounding can never keep the clock-free path past the deadline.
const FINAL_NANOS: u64 = 2_000_000;
const MIN_TICK_NANOS: u64 = 1_000_000;
const MAX_TICK_NANOS: u64 = 1_000_000_000;

/// Starts the timer of the open period `generation`, if a tokio runtime is current; without
/// one, the breaker reads the clock as it rejects calls.
pub(super) fn start(shared: &Shared, generation: u64) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn(OpenTimer {
            shared: shared.this.clone(),
            generation,
            sleep: None,
            waker: None,
        }));
    }
}

/// How long before the next refresh, with `left` nanoseconds of the open period to go.
fn tick(left: u64) -> u64 {
    (left / 8).clamp(MIN_TICK_NANOS, MAX_TICK_NANOS)
}

struct OpenTimer {
    shared: Weak<Shared>,
    generation: u64,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The task's waker wrapped in a [`Refresh`], rebuilt when the task's waker changes.
    waker: Option<(Waker, Waker)>,
}

/// The waker the timer fires: takes the breaker off the clock-free path, then wakes the
/// task.
struct Refresh {
    shared: Weak<Shared>,
    generation: u64,
    task: Waker,
}

impl Wake for Refresh {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            shared.stop_timed(self.generation);
        }
        self.task.wake_by_ref();
    }
}

impl OpenTimer {
    fn waker(&mut self, task: &Waker) -> Waker {
        match &self.waker {
            Some((known, refresh)) if known.will_wake(task) => refresh.clone(),
            _ => {
                let refresh = Waker::from(Arc::new(Refresh {
                    shared: self.shared.clone(),
                    generation: self.generation,
                    task: task.clone(),
                }));
                self.waker = Some((task.clone(), refresh.clone()));
                refresh
            }
        }
    }
}

impl Future for OpenTimer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(shared) = this.shared.upgrade() else {
            return Poll::Ready(());
        };
        let waker = this.waker(cx.waker());
        // Made before anything is marked: on a runtime without timers this panics (tokio
        // reports it) and the breaker stays on the clock.
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::ZERO)));
        loop {
            if !shared.load().is(PHASE_OPEN, this.generation) {
                return Poll::Ready(());
            }
            let now = shared.now_nanos();
            let until = shared.open_until_nanos.load(Ordering::Acquire);
            if now >= until {
                shared.half_open(this.generation, now);
                return Poll::Ready(());
            }
            let left = until - now;
            let wake_at = if left > FINAL_NANOS {
                // The reading first, then the mark: a rejection that sees the mark sees a
                // reading at least this fresh.
                shared.recent_nanos.fetch_max(now, Ordering::Release);
                shared.start_timed(this.generation);
                now + tick(left)
            } else {
                shared.stop_timed(this.generation);
                until
            };
            let deadline =
                tokio::time::Instant::from_std(shared.origin + Duration::from_nanos(wake_at));
            sleep.as_mut().reset(deadline);
            // Registered after the mark is set, so a timer firing from now on clears it.
            if sleep
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
            {
                return Poll::Pending;
            }
            shared.stop_timed(this.generation);
        }
    }
}

impl Drop for OpenTimer {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.stop_timed(self.generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tick_is_an_eighth_of_the_time_left_between_a_millisecond_and_a_second() {
        assert_eq!(tick(3_600_000_000_000), MAX_TICK_NANOS);
        assert_eq!(tick(4_000_000_000), 500_000_000);
        assert_eq!(tick(3_000_000), MIN_TICK_NANOS);
        // A tick set while the clock-free path is on always fires before the deadline,
        // even rounded up to the timer's millisecond.
        for left in [FINAL_NANOS + 1, 8_000_001, 60_000_000_000] {
            assert!(tick(left) + 1_000_000 < left, "left {left}");
        }
    }
}

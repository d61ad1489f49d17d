//! Akka's semantics and the extras, each as a test on tokio's paused clock
//! or a manual clock: nothing here sleeps in real time.

use std::future::{Future, pending};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;

use portcullis_circuit_breaker::{
    BreakerError, CircuitBreaker, FailurePolicy, ManualClock, Outcome, State,
};

type Result<T = ()> = std::result::Result<T, BreakerError<&'static str>>;

async fn fail(breaker: &CircuitBreaker) -> Result {
    breaker.call(|| async { Err("down") }).await
}

async fn succeed(breaker: &CircuitBreaker) -> Result {
    breaker.call(|| async { Ok(()) }).await
}

fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
    let count = Arc::new(AtomicUsize::new(0));
    let bump = {
        let count = count.clone();
        move || {
            count.fetch_add(1, Ordering::SeqCst);
        }
    };
    (count, bump)
}

#[tokio::test]
async fn failures_are_counted_and_a_success_resets_them() {
    let breaker = CircuitBreaker::builder().max_failures(3).build().unwrap();
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.snapshot().failure_count, 2);
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.snapshot().failure_count, 0);
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn opens_after_max_failures() {
    let breaker = CircuitBreaker::builder().max_failures(3).build().unwrap();
    for _ in 0..3 {
        assert!(fail(&breaker).await.unwrap_err().is_inner());
    }
    assert_eq!(breaker.state(), State::Open);
}

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_past_the_timeout_is_cancelled_and_counts_as_a_failure() {
    let (timeouts, on_timeout) = counter();
    let breaker = CircuitBreaker::builder()
        .max_failures(2)
        .call_timeout(Duration::from_secs(1))
        .on_call_timeout(move |_| on_timeout())
        .build()
        .unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let guard = CountDrop(dropped.clone());
    let error = breaker
        .call(|| async move {
            let _guard = guard;
            pending::<std::result::Result<(), &str>>().await
        })
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    assert!(
        matches!(error, BreakerError::Timeout { elapsed } if elapsed == Duration::from_secs(1))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the timed-out future was dropped"
    );
    assert_eq!(timeouts.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.snapshot().failure_count, 1);
    assert_eq!(breaker.snapshot().timeouts, 1);

    let slow = breaker
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, &str>(())
        })
        .await;
    assert!(slow.unwrap_err().is_timeout());
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn open_fails_fast_and_says_when_it_half_opens() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(20)).await;
    let ran = AtomicUsize::new(0);
    let error = breaker
        .call(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, &str>(())
        })
        .await
        .unwrap_err();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "an open breaker runs nothing"
    );
    assert!(error.is_open());
    assert_eq!(error.retry_in(), Some(Duration::from_secs(40)));
    assert_eq!(breaker.remaining_open(), Some(Duration::from_secs(40)));
    assert_eq!(breaker.snapshot().rejections, 1);
}

#[tokio::test(start_paused = true)]
async fn becomes_half_open_after_the_reset_timeout_and_a_good_trial_closes_it() {
    let (half_opened, on_half_open) = counter();
    let (closed, on_close) = counter();
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .exponential_backoff(2.0)
        .on_half_open(on_half_open)
        .on_close(on_close)
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.remaining_open(), None);
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(half_opened.load(Ordering::SeqCst), 1);
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_only_the_first_call() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;

    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let probe = {
        let breaker = breaker.clone();
        tokio::spawn(async move {
            breaker
                .call(|| async {
                    wait.await.ok();
                    Ok::<_, &str>(())
                })
                .await
        })
    };
    tokio::task::yield_now().await;
    let second = succeed(&breaker).await.unwrap_err();
    assert!(matches!(second, BreakerError::Open { remaining } if remaining == Duration::ZERO));
    release.send(()).unwrap();
    probe.await.unwrap().unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_reopens_with_exponential_backoff_capped_at_the_maximum() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .exponential_backoff(2.0)
        .max_reset_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.remaining_open(), Some(Duration::from_secs(10)));
    for expected in [20, 30, 30] {
        tokio::time::advance(breaker.remaining_open().unwrap()).await;
        fail(&breaker).await.unwrap_err();
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(
            breaker.remaining_open(),
            Some(Duration::from_secs(expected))
        );
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.snapshot().reset_timeout, Duration::from_secs(10));
    fail(&breaker).await.unwrap_err();
    assert_eq!(
        breaker.remaining_open(),
        Some(Duration::from_secs(10)),
        "a successful trial restores the configured reset timeout"
    );
}

#[tokio::test]
async fn random_factor_lengthens_the_open_period_within_bounds() {
    let clock = ManualClock::new();
    let mut lengths = Vec::new();
    for _ in 0..20 {
        let breaker = CircuitBreaker::builder()
            .clock(clock.clone())
            .max_failures(1)
            .reset_timeout(Duration::from_secs(10))
            .random_factor(0.5)
            .build()
            .unwrap();
        fail(&breaker).await.unwrap_err();
        let remaining = breaker.remaining_open().unwrap();
        assert!(remaining >= Duration::from_secs(10) && remaining <= Duration::from_secs(15));
        lengths.push(remaining);
    }
    lengths.dedup();
    assert!(lengths.len() > 1, "jitter varies the open period");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_trial_gives_its_permit_back_without_counting() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;
    {
        let mut probe = pin!(breaker.call(pending::<std::result::Result<(), &str>>));
        let mut context = Context::from_waker(Waker::noop());
        assert!(probe.as_mut().poll(&mut context).is_pending());
        assert_eq!(breaker.snapshot().half_open_permits_taken, 1);
        assert!(succeed(&breaker).await.unwrap_err().is_open());
    }
    assert_eq!(breaker.snapshot().half_open_permits_taken, 0);
    assert_eq!(breaker.state(), State::HalfOpen);
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_hung_trial_reopens_the_breaker_after_the_maximum_half_open_wait() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .max_half_open_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;
    let mut probe = pin!(breaker.call(pending::<std::result::Result<(), &str>>));
    let mut context = Context::from_waker(Waker::noop());
    assert!(probe.as_mut().poll(&mut context).is_pending());
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(
        matches!(succeed(&breaker).await, Err(BreakerError::Open { remaining }) if remaining.is_zero())
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        matches!(succeed(&breaker).await, Err(BreakerError::Open { remaining }) if remaining == Duration::from_secs(10))
    );
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_concurrent_callers_while_half_open_run_exactly_one_trial() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .clock(clock.clone())
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    clock.advance(Duration::from_secs(10));
    let running = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(101));
    let (release, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut callers = Vec::new();
    for _ in 0..100 {
        let (breaker, running, gate) = (breaker.clone(), running.clone(), gate.clone());
        let mut released = release.subscribe();
        callers.push(tokio::spawn(async move {
            gate.wait().await;
            breaker
                .call(|| async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    released.recv().await.ok();
                    Ok::<_, &str>(())
                })
                .await
        }));
    }
    gate.wait().await;
    while breaker.snapshot().rejections < 99 {
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();
    let mut admitted = 0;
    for caller in callers {
        if caller.await.unwrap().is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 1);
    assert_eq!(running.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn half_open_permits_and_successes_are_configurable() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .clock(clock.clone())
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .half_open_permits(3)
        .half_open_successes(2)
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    clock.advance(Duration::from_secs(10));
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), State::HalfOpen);
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);

    fail(&breaker).await.unwrap_err();
    clock.advance(Duration::from_secs(10));
    let mut context = Context::from_waker(Waker::noop());
    let mut trials: Vec<_> = (0..3)
        .map(|_| Box::pin(breaker.call(pending::<std::result::Result<(), &str>>)))
        .collect();
    for trial in &mut trials {
        assert!(trial.as_mut().poll(&mut context).is_pending());
    }
    assert!(
        succeed(&breaker).await.unwrap_err().is_open(),
        "a fourth trial is refused"
    );
}

#[tokio::test]
async fn the_failure_rate_policy_trips_on_the_share_of_failures_in_the_window() {
    let breaker = CircuitBreaker::builder()
        .failure_policy(FailurePolicy::failure_rate(0.5, 10).minimum_calls(4))
        .build()
        .unwrap();
    succeed(&breaker).await.unwrap();
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "fewer than the minimum calls"
    );
    for _ in 0..4 {
        succeed(&breaker).await.unwrap();
    }
    fail(&breaker).await.unwrap_err();
    fail(&breaker).await.unwrap_err();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "4 failures of 9 is below half"
    );
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), State::Open, "5 failures of 10 is half");
}

#[tokio::test]
async fn slow_successes_count_as_failures() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .clock(clock.clone())
        .max_failures(2)
        .slow_call_threshold(Duration::from_millis(100))
        .build()
        .unwrap();
    for _ in 0..2 {
        let value = breaker
            .call(|| async {
                clock.advance(Duration::from_millis(150));
                Ok::<_, &str>(7)
            })
            .await;
        assert_eq!(value.unwrap(), 7, "the caller still gets the value");
    }
    assert_eq!(breaker.snapshot().slow_calls, 2);
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn a_classifier_decides_success_failure_or_ignored() {
    let breaker = CircuitBreaker::builder().max_failures(1).build().unwrap();
    let by_status = |result: &std::result::Result<u16, &str>| match result {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Ignored,
    };
    assert_eq!(
        breaker
            .call_with(by_status, || async { Ok(404) })
            .await
            .unwrap(),
        404
    );
    assert!(
        breaker
            .call_with(by_status, || async { Err("cancelled") })
            .await
            .is_err()
    );
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().ignored, 1);
    assert_eq!(
        breaker
            .call_with(by_status, || async { Ok(503) })
            .await
            .unwrap(),
        503
    );
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn the_fallback_replaces_every_kind_of_error() {
    let breaker = CircuitBreaker::builder().max_failures(1).build().unwrap();
    let first = breaker
        .call_or_else(|| async { Err("down") }, |_| "fallback")
        .await;
    assert_eq!(first, "fallback");
    let rejected = breaker
        .call_or_else(
            || async { Ok::<_, &str>("live") },
            |error| if error.is_open() { "open" } else { "?" },
        )
        .await;
    assert_eq!(rejected, "open");
}

#[tokio::test]
async fn manual_control_forces_open_forces_closed_and_resets() {
    let (opened, on_open) = counter();
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .on_open(on_open)
        .build()
        .unwrap();
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert!(succeed(&breaker).await.unwrap_err().is_open());
    assert_eq!(opened.load(Ordering::SeqCst), 1);

    breaker.force_closed();
    assert_eq!(breaker.state(), State::ForcedClosed);
    for _ in 0..5 {
        fail(&breaker).await.unwrap_err();
    }
    assert_eq!(
        breaker.state(),
        State::ForcedClosed,
        "nothing trips a forced-closed breaker"
    );

    breaker.reset();
    assert_eq!(breaker.state(), State::Closed);
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    breaker.reset();
    assert!(breaker.is_call_permitted());
    succeed(&breaker).await.unwrap();
}

#[tokio::test]
async fn listeners_may_call_back_into_the_breaker_without_deadlock() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let breaker_slot: Arc<Mutex<Option<CircuitBreaker>>> = Arc::new(Mutex::new(None));
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .on_open({
            let (seen, slot) = (seen.clone(), breaker_slot.clone());
            move || {
                let breaker = slot.lock().unwrap().clone().unwrap();
                seen.lock().unwrap().push(breaker.snapshot().state);
                breaker.force_closed();
            }
        })
        .on_close({
            let (seen, slot) = (seen.clone(), breaker_slot.clone());
            move || {
                let breaker = slot.lock().unwrap().clone().unwrap();
                seen.lock().unwrap().push(breaker.state());
            }
        })
        .build()
        .unwrap();
    *breaker_slot.lock().unwrap() = Some(breaker.clone());
    fail(&breaker).await.unwrap_err();
    assert_eq!(*seen.lock().unwrap(), [State::Open, State::ForcedClosed]);
    assert_eq!(breaker.state(), State::ForcedClosed);
    // Break the Arc cycle breaker -> listener -> slot -> breaker.
    breaker_slot.lock().unwrap().take();
}

#[tokio::test]
async fn a_panicking_listener_neither_poisons_the_breaker_nor_loses_the_result() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .on_call_success(|_| panic!("listener bug"))
        .on_open(|| panic!("listener bug"))
        .on_call_breaker_open(|| panic!("listener bug"))
        .build()
        .unwrap();
    assert_eq!(
        breaker.call(|| async { Ok::<_, &str>(5) }).await.unwrap(),
        5
    );
    assert_eq!(fail(&breaker).await.unwrap_err().into_inner(), Some("down"));
    assert_eq!(breaker.state(), State::Open);
    assert!(succeed(&breaker).await.unwrap_err().is_open());
    breaker.reset();
    assert_eq!(
        breaker.call(|| async { Ok::<_, &str>(6) }).await.unwrap(),
        6
    );
}

#[tokio::test]
async fn call_listeners_receive_each_result() {
    let clock = ManualClock::new();
    let durations = Arc::new(Mutex::new(Vec::new()));
    let (rejections, on_rejection) = counter();
    let breaker = CircuitBreaker::builder()
        .clock(clock.clone())
        .max_failures(1)
        .on_call_success({
            let durations = durations.clone();
            move |elapsed| durations.lock().unwrap().push(("success", elapsed))
        })
        .on_call_failure({
            let durations = durations.clone();
            move |elapsed| durations.lock().unwrap().push(("failure", elapsed))
        })
        .on_call_breaker_open(on_rejection)
        .build()
        .unwrap();
    breaker
        .call(|| async {
            clock.advance(Duration::from_millis(30));
            Ok::<_, &str>(())
        })
        .await
        .unwrap();
    fail(&breaker).await.unwrap_err();
    succeed(&breaker).await.unwrap_err();
    assert_eq!(
        *durations.lock().unwrap(),
        [
            ("success", Duration::from_millis(30)),
            ("failure", Duration::ZERO)
        ]
    );
    assert_eq!(rejections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn clones_share_one_breaker_and_the_call_future_is_send() {
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let breaker = CircuitBreaker::builder().max_failures(1).build().unwrap();
    let clone = breaker.clone();
    assert_send(fail(&clone)).await.unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    assert!(format!("{breaker:?}").contains("Open"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_trip_the_breaker_exactly_once() {
    let (opened, on_open) = counter();
    let breaker = CircuitBreaker::builder()
        .max_failures(50)
        .reset_timeout(Duration::from_secs(3600))
        .on_open(on_open)
        .build()
        .unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let breaker = breaker.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..500 {
                let _ = fail(&breaker).await;
                tokio::task::yield_now().await;
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, State::Open);
    assert_eq!(opened.load(Ordering::SeqCst), 1);
    assert_eq!(snapshot.failures + snapshot.rejections, 2000);
    assert!(snapshot.failures >= 50);
}

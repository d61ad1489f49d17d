//! The open period's timer: a breaker on tokio's clock that trips inside a runtime moves
//! to half-open from a timer task and rejects calls without reading the clock. Each test
//! runs on tokio's paused clock or a manual one: nothing here sleeps in real time.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use portcullis_circuit_breaker::{BreakerError, CircuitBreaker, ManualClock, State};

type Result<T = ()> = std::result::Result<T, BreakerError<&'static str>>;

async fn fail(breaker: &CircuitBreaker) -> Result {
    breaker.call(|| async { Err("down") }).await
}

async fn succeed(breaker: &CircuitBreaker) -> Result {
    breaker.call(|| async { Ok(()) }).await
}

/// The `remaining` of a rejected call.
async fn rejected_for(breaker: &CircuitBreaker) -> Duration {
    succeed(breaker)
        .await
        .unwrap_err()
        .retry_in()
        .expect("rejected because open")
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

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn timed_rejections_overstate_the_time_left_by_at_most_one_tick() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    // The timer task takes its first reading (the tick is then 1 s: an eighth of 60 s,
    // capped at a second).
    tokio::task::yield_now().await;

    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(
        breaker.remaining_open(),
        Some(Duration::from_millis(59_500))
    );
    assert_eq!(
        rejected_for(&breaker).await,
        Duration::from_secs(60),
        "within a tick, a rejection reports the time left at the last reading"
    );

    // Past a tick, the timer has fired: the very next call reads the clock.
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(rejected_for(&breaker).await, Duration::from_millis(39_500));
    // And once the task has run, the fresh reading is exact again.
    tokio::task::yield_now().await;
    assert_eq!(rejected_for(&breaker).await, Duration::from_millis(39_500));
    assert_eq!(breaker.snapshot().rejections, 3);
}

#[tokio::test(start_paused = true)]
async fn the_timer_half_opens_the_breaker_and_each_transition_fires_its_listener_once() {
    let (opened, on_open) = counter();
    let (half_opened, on_half_open) = counter();
    let (closed, on_close) = counter();
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .on_open(on_open)
        .on_half_open(on_half_open)
        .on_close(on_close)
        .build()
        .unwrap();

    // No call after the deadline: the timer makes the move.
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        half_opened.load(Ordering::SeqCst),
        1,
        "half-opened with no call"
    );
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);

    // A call right at the deadline, before the timer task runs, makes the move; the task
    // then finds nothing to do.
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;
    succeed(&breaker).await.unwrap();
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(opened.load(Ordering::SeqCst), 2);
    assert_eq!(half_opened.load(Ordering::SeqCst), 2);
    assert_eq!(closed.load(Ordering::SeqCst), 2);
}

#[test]
fn a_breaker_whose_runtime_shut_down_while_open_still_half_opens() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let runtime = paused_runtime();
    runtime.block_on(async {
        fail(&breaker).await.unwrap_err();
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(
            rejected_for(&breaker).await,
            Duration::from_secs(10),
            "the timer runs"
        );
    });
    // Shutting the runtime down drops the timer task before it could half-open.
    drop(runtime);

    let later = paused_runtime();
    later.block_on(async {
        tokio::time::advance(Duration::from_secs(11)).await;
        succeed(&breaker).await.unwrap();
        assert_eq!(breaker.state(), State::Closed);
    });
}

#[test]
fn a_breaker_tripped_outside_any_runtime_half_opens_by_the_clock() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let tripped = breaker
        .call(|| async { Err::<(), _>("down") })
        .now_or_never()
        .expect("ready at once");
    assert!(tripped.unwrap_err().is_inner());
    assert_eq!(breaker.state(), State::Open);

    paused_runtime().block_on(async {
        tokio::time::advance(Duration::from_secs(11)).await;
        succeed(&breaker).await.unwrap();
        assert_eq!(breaker.state(), State::Closed);
    });
}

#[tokio::test]
async fn a_clock_that_does_not_follow_tokio_is_read_at_every_rejection() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .clock(clock.clone())
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::task::yield_now().await;
    clock.advance(Duration::from_secs(3));
    assert_eq!(rejected_for(&breaker).await, Duration::from_secs(7));
    clock.advance(Duration::from_secs(7));
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_timer_delays_half_opening_by_at_most_256_rejections_per_thread() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::task::yield_now().await;
    // Move the clock past the deadline without letting the runtime fire its timers, as a
    // runtime stuck in a long poll would: `advance` moves the clock at its first poll.
    let mut advance = std::pin::pin!(tokio::time::advance(Duration::from_secs(11)));
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = advance.as_mut().poll(&mut context);
    let mut rejected = 0;
    while let Some(Err(error)) = breaker.call(|| async { Ok::<_, &str>(()) }).now_or_never() {
        assert!(error.is_open());
        rejected += 1;
        assert!(rejected < 256, "the breaker did not read the clock");
    }
    assert!(rejected > 0, "the timer's reading was in use");
    assert_eq!(breaker.state(), State::Closed);
}

//! The event stream: order, lag and the end of the stream, on tokio's paused clock.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use portcullis_circuit_breaker::{
    BreakerEvent, CallOutcome, CircuitBreaker, ConfigError, Outcome, State,
};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// An event reduced to what a test can predict: no instants.
#[derive(Debug, PartialEq)]
enum Seen {
    Change(State, State),
    Call(CallOutcome, Duration),
}

fn seen(event: &BreakerEvent) -> Seen {
    match event {
        BreakerEvent::StateChange { from, to, .. } => Seen::Change(*from, *to),
        BreakerEvent::Call {
            outcome, duration, ..
        } => Seen::Call(*outcome, *duration),
        other => panic!("an event this test does not know: {other:?}"),
    }
}

async fn sleep_then<T>(seconds: u64, result: T) -> T {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    result
}

#[tokio::test(start_paused = true)]
async fn events_arrive_in_order_for_a_scripted_sequence() {
    let breaker = CircuitBreaker::builder()
        .name("iam")
        .max_failures(2)
        .call_timeout(Duration::from_secs(3))
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut events = breaker.subscribe();
    let started = tokio::time::Instant::now().into_std();

    breaker
        .call(|| sleep_then(1, Ok::<_, &str>(())))
        .await
        .unwrap();
    breaker
        .call(|| sleep_then(2, Err::<(), _>("down")))
        .await
        .unwrap_err();
    breaker
        .call_with(
            |_: &Result<(), &str>| Outcome::Ignored,
            || sleep_then(1, Err("gone")),
        )
        .await
        .unwrap_err();
    breaker
        .call(|| sleep_then(60, Ok::<_, &str>(())))
        .await
        .unwrap_err(); // the call timeout: the second failure trips the breaker
    breaker
        .call(|| async { Ok::<_, &str>(()) })
        .await
        .unwrap_err();
    tokio::time::sleep(Duration::from_secs(10)).await;
    breaker
        .call(|| sleep_then(1, Ok::<_, &str>(())))
        .await
        .unwrap();

    let mut received = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.name(), "iam");
        received.push(event);
    }
    let second = Duration::from_secs(1);
    assert_eq!(
        received.iter().map(seen).collect::<Vec<_>>(),
        [
            Seen::Call(CallOutcome::Success, second),
            Seen::Call(CallOutcome::Failure, 2 * second),
            Seen::Call(CallOutcome::Ignored, second),
            Seen::Call(CallOutcome::Timeout, 3 * second),
            Seen::Change(State::Closed, State::Open),
            Seen::Call(CallOutcome::Rejected, Duration::ZERO),
            Seen::Change(State::Open, State::HalfOpen),
            Seen::Call(CallOutcome::Success, second),
            Seen::Change(State::HalfOpen, State::Closed),
        ]
    );
    let BreakerEvent::StateChange { at, .. } = &received[4] else {
        unreachable!()
    };
    assert_eq!(*at - started, 7 * second, "tripped when the timeout fired");
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_never_reads_neither_blocks_calls_nor_keeps_old_events() {
    let breaker = CircuitBreaker::builder().event_capacity(4).build().unwrap();
    let mut idle = breaker.subscribe();
    for _ in 0..100 {
        breaker.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
    }
    breaker.force_open();
    assert_eq!(idle.recv().await, Err(RecvError::Lagged(97)));
    for _ in 0..3 {
        assert!(matches!(
            idle.recv().await,
            Ok(BreakerEvent::Call {
                outcome: CallOutcome::Success,
                ..
            })
        ));
    }
    assert!(matches!(
        idle.recv().await,
        Ok(BreakerEvent::StateChange {
            to: State::ForcedOpen,
            ..
        })
    ));
    assert_eq!(idle.try_recv(), Err(TryRecvError::Empty));
}

#[tokio::test(start_paused = true)]
async fn each_subscriber_sees_events_from_when_it_subscribed_until_the_breaker_is_gone() {
    let breaker = CircuitBreaker::builder().build().unwrap();
    breaker
        .call(|| async { Err::<(), _>(()) })
        .await
        .unwrap_err();
    let mut first = breaker.subscribe();
    breaker.force_open();
    let mut second = breaker.subscribe();
    drop(first.try_recv().unwrap());
    breaker.reset();
    drop(breaker);
    for events in [&mut first, &mut second] {
        assert!(matches!(
            events.recv().await,
            Ok(BreakerEvent::StateChange {
                from: State::ForcedOpen,
                to: State::Closed,
                ..
            })
        ));
        assert_eq!(events.recv().await, Err(RecvError::Closed));
    }
}

#[tokio::test(start_paused = true)]
async fn once_the_last_subscriber_leaves_calls_are_no_longer_timed() {
    let breaker = CircuitBreaker::builder().build().unwrap();
    drop(breaker.subscribe());
    // Admitted now, untimed; it ends while someone subscribes again.
    let mut call = pin!(breaker.call(|| sleep_then(1, Ok::<_, ()>(()))));
    poll_fn(|cx| {
        assert!(call.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    let mut events = breaker.subscribe();
    call.await.unwrap();
    let timed = breaker.call(|| sleep_then(1, Ok::<_, ()>(()))).await;
    timed.unwrap();
    let durations: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|event| seen(&event))
        .collect();
    assert_eq!(
        durations,
        [
            Seen::Call(CallOutcome::Success, Duration::ZERO),
            Seen::Call(CallOutcome::Success, Duration::from_secs(1)),
        ]
    );
}

#[test]
fn the_event_capacity_is_checked() {
    for capacity in [0, 65_537] {
        assert_eq!(
            CircuitBreaker::builder()
                .event_capacity(capacity)
                .build()
                .unwrap_err(),
            ConfigError::EventCapacity { capacity }
        );
    }
    assert!(
        CircuitBreaker::builder()
            .event_capacity(65_536)
            .build()
            .is_ok()
    );
}

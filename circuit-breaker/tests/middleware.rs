//! The tower layer over plain services.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portcullis_circuit_breaker::{
    BreakerError, CircuitBreaker, CircuitBreakerLayer, Outcome, State,
};
use tower::{Layer, Service, ServiceExt, service_fn};

#[tokio::test]
async fn rejections_are_immediate_and_skip_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let breaker = CircuitBreaker::builder().max_failures(2).build().unwrap();
    let layer = CircuitBreakerLayer::new(breaker.clone());
    let counter = calls.clone();
    let mut service = layer.layer(service_fn(move |()| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    }));
    for _ in 0..2 {
        let error = service.ready().await.unwrap().call(()).await.unwrap_err();
        assert!(error.is_inner());
    }
    assert_eq!(breaker.state(), State::Open);
    let future = service.ready().await.unwrap().call(());
    let error = futures_util::FutureExt::now_or_never(future)
        .expect("a rejection is ready at once")
        .unwrap_err();
    assert!(matches!(error, BreakerError::Open { .. }));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn clones_of_the_layer_and_service_share_one_breaker() {
    let layer =
        CircuitBreakerLayer::new(CircuitBreaker::builder().max_failures(2).build().unwrap());
    let failing = service_fn(|()| async { Err::<(), _>("down") });
    let mut first = layer.clone().layer(failing);
    let mut second = first.clone();
    first.ready().await.unwrap().call(()).await.unwrap_err();
    second.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(layer.breaker().state(), State::Open);
    assert_eq!(first.breaker().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_call_timeout_cancels_slow_responses() {
    let breaker = CircuitBreaker::builder()
        .max_failures(1)
        .call_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut service = CircuitBreakerLayer::new(breaker.clone())
        .layer(service_fn(|()| pending::<Result<(), Infallible>>()));
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(
        matches!(error, BreakerError::Timeout { elapsed } if elapsed == Duration::from_secs(2))
    );
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.snapshot().timeouts, 1);
}

#[tokio::test]
async fn a_classifier_turns_error_statuses_into_failures() {
    let breaker = CircuitBreaker::builder().max_failures(2).build().unwrap();
    let layer = CircuitBreakerLayer::with_classifier(
        breaker.clone(),
        |result: &Result<u16, Infallible>| match result {
            Ok(status) if *status >= 500 => Outcome::Failure,
            _ => Outcome::Success,
        },
    );
    let mut service = layer.layer(service_fn(|status: u16| async move {
        Ok::<_, Infallible>(status)
    }));
    assert_eq!(service.ready().await.unwrap().call(404).await.unwrap(), 404);
    assert_eq!(service.ready().await.unwrap().call(503).await.unwrap(), 503);
    assert_eq!(service.ready().await.unwrap().call(500).await.unwrap(), 500);
    assert_eq!(breaker.state(), State::Open);
    assert!(
        service
            .ready()
            .await
            .unwrap()
            .call(200)
            .await
            .unwrap_err()
            .is_open()
    );
    assert_eq!((*service.get_ref()).oneshot(7).await.unwrap(), 7);
}

#[tokio::test]
async fn a_dropped_response_future_frees_the_half_open_permit() {
    let clock = portcullis_circuit_breaker::ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .clock(clock.clone())
        .max_failures(1)
        .reset_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    breaker
        .call(|| async { Err::<(), _>("down") })
        .await
        .unwrap_err();
    clock.advance(Duration::from_secs(5));
    let mut service = CircuitBreakerLayer::new(breaker.clone())
        .layer(service_fn(|()| pending::<Result<(), Infallible>>()));
    let trial = service.ready().await.unwrap().call(());
    assert_eq!(breaker.snapshot().half_open_permits_taken, 1);
    drop(trial);
    assert_eq!(breaker.snapshot().half_open_permits_taken, 0);
    assert_eq!(breaker.state(), State::HalfOpen);
}

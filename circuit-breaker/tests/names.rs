//! Breaker names and the listeners that receive them, on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_circuit_breaker::{BreakerError, CircuitBreaker, CircuitBreakerBuilder, State};

type Result<T = ()> = std::result::Result<T, BreakerError<&'static str>>;

async fn fail(breaker: &CircuitBreaker) -> Result {
    breaker.call(|| async { Err("down") }).await
}

async fn succeed(breaker: &CircuitBreaker) -> Result {
    breaker.call(|| async { Ok(()) }).await
}

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

#[test]
fn a_breaker_without_a_name_is_unnamed() {
    let breaker = CircuitBreaker::builder().build().unwrap();
    assert_eq!(breaker.name(), "unnamed");
    assert_eq!(breaker.name(), CircuitBreakerBuilder::DEFAULT_NAME);
    assert_eq!(CircuitBreaker::default().name(), "unnamed");
    let named = CircuitBreaker::builder().name("iam").build().unwrap();
    assert_eq!(named.name(), "iam");
    assert_eq!(named.clone().name(), "iam");
    assert!(format!("{named:?}").contains("\"iam\""));
}

#[tokio::test(start_paused = true)]
async fn the_state_change_listener_gets_the_name_and_every_move() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let breaker = CircuitBreaker::builder()
        .name("iam")
        .max_failures(1)
        .reset_timeout(Duration::from_secs(10))
        .on_state_change({
            let seen = seen.clone();
            move |name, from, to| seen.lock().unwrap().push((name.to_owned(), from, to))
        })
        .build()
        .unwrap();
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;
    succeed(&breaker).await.unwrap();
    breaker.force_open();
    breaker.force_open(); // no change: not reported
    breaker.force_closed();
    breaker.reset();
    breaker.reset(); // no change: not reported

    let expected = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
        (State::Closed, State::ForcedOpen),
        (State::ForcedOpen, State::ForcedClosed),
        (State::ForcedClosed, State::Closed),
    ]
    .map(|(from, to)| ("iam".to_owned(), from, to));
    assert_eq!(*seen.lock().unwrap(), expected);
}

#[tokio::test(start_paused = true)]
async fn the_existing_listeners_may_take_the_name() {
    let (opened, half_opened, closed, rejected) = (log(), log(), log(), log());
    let (successes, failures, timeouts) = (log(), log(), log());
    let record = |log: &Log| {
        let log = log.clone();
        move |name: &str| log.lock().unwrap().push(name.to_owned())
    };
    let record_timed = |log: &Log| {
        let log = log.clone();
        move |name: &str, elapsed: Duration| {
            log.lock()
                .unwrap()
                .push(format!("{name} {}", elapsed.as_secs()));
        }
    };
    let breaker = CircuitBreaker::builder()
        .name("movies")
        .max_failures(2)
        .call_timeout(Duration::from_secs(3))
        .reset_timeout(Duration::from_secs(10))
        .on_open(record(&opened))
        .on_half_open(record(&half_opened))
        .on_close(record(&closed))
        .on_call_breaker_open(record(&rejected))
        .on_call_success(record_timed(&successes))
        .on_call_failure(record_timed(&failures))
        .on_call_timeout(record_timed(&timeouts))
        .build()
        .unwrap();
    breaker
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err::<(), _>("down")
        })
        .await
        .unwrap_err();
    breaker
        .call(std::future::pending::<std::result::Result<(), &str>>)
        .await
        .unwrap_err();
    fail(&breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(10)).await;
    breaker
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, &str>(())
        })
        .await
        .unwrap();

    let read = |log: &Log| log.lock().unwrap().clone();
    assert_eq!(read(&failures), ["movies 1"]);
    assert_eq!(read(&timeouts), ["movies 3"]);
    assert_eq!(read(&opened), ["movies"]);
    assert_eq!(read(&rejected), ["movies"]);
    assert_eq!(read(&half_opened), ["movies"]);
    assert_eq!(read(&successes), ["movies 2"]);
    assert_eq!(read(&closed), ["movies"]);
}

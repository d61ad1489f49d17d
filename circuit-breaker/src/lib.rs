//! An async circuit breaker with Akka's state machine, listeners, exponential backoff, a
//! tower layer and a load-balancing reqwest client.
//!
//! # Overview
//!
//! A [`CircuitBreaker`] wraps calls to a dependency that may fail. It follows Akka's
//! semantics:
//!
//! - **Closed**: calls run. A call that fails, or runs past the
//!   [`call_timeout`](CircuitBreakerBuilder::call_timeout) (its future is then dropped),
//!   counts as a failure; a success resets the count; `max_failures` in a row trip the
//!   breaker open.
//! - **Open**: calls fail fast with [`BreakerError::Open`], which says how long until the
//!   breaker half-opens. After the reset timeout it becomes half-open.
//! - **Half-open**: the first call (or the configured number of trial permits) runs; the
//!   others fail fast. A successful trial closes the breaker and restores the reset
//!   timeout; a failed one re-opens it with the reset timeout multiplied by the
//!   [`exponential_backoff`](CircuitBreakerBuilder::exponential_backoff) factor, capped by
//!   [`max_reset_timeout`](CircuitBreakerBuilder::max_reset_timeout), with optional
//!   [`random_factor`](CircuitBreakerBuilder::random_factor) jitter. A trial whose future is
//!   dropped gives its permit back.
//!
//! Beyond Akka's: a failure-rate policy ([`FailurePolicy`]), slow-call counting, outcome
//! [`Classifier`]s, a [name](CircuitBreakerBuilder::name) per breaker, listeners that run
//! outside any lock and survive panics (including gobreaker's
//! [`on_state_change`](CircuitBreakerBuilder::on_state_change)), an
//! [event stream](CircuitBreaker::subscribe), metrics (feature `metrics`), a fallback
//! helper, manual control (`force_open`, `force_closed`, `reset`), a lock-free
//! [`Snapshot`], an injectable [`Clock`], a tower layer and a load-balancing HTTP client.
//!
//! The hot path is a few atomic operations on one packed state word: no lock and no heap
//! allocation per call; a mutex is taken only on state transitions. As in Akka, the move
//! from open to half-open is scheduled: a breaker on the default [`TokioClock`] that trips
//! inside a tokio runtime spawns one small task there, which keeps a recent clock reading
//! while the breaker is open and half-opens it at the deadline, so rejections read no
//! clock (their `remaining` may then overstate the time left by up to an eighth of it, at
//! most one second, plus any lateness of the runtime's timer). If that runtime shuts down,
//! the breaker goes back to reading the clock; if it stalls, one rejection in 256 on each
//! thread still reads the clock, so an open breaker always half-opens. Tripped outside a
//! runtime, or on another clock, the breaker reads the clock as it rejects calls and
//! half-opens at the first call after the deadline. (The runtime needs its timer enabled,
//! as `#[tokio::main]` does; on one without, the task panics, tokio reports it, and the
//! breaker reads the clock.)
//!
//! # Example: a plain call
//!
//! ```
//! use std::time::Duration;
//! use portcullis_circuit_breaker::{BreakerError, CircuitBreaker, State};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), portcullis_circuit_breaker::ConfigError> {
//! // Settings out of range (say a maximum reset timeout below the reset timeout) are a
//! // `ConfigError` here, never a panic.
//! let breaker = CircuitBreaker::builder()
//!     .max_failures(2)
//!     .call_timeout(Duration::from_secs(1))
//!     .reset_timeout(Duration::from_secs(30))
//!     .exponential_backoff(2.0)
//!     .max_reset_timeout(Duration::from_secs(300))
//!     .build()?;
//!
//! let answer = breaker.call(|| async { Ok::<_, std::io::Error>(42) }).await;
//! assert_eq!(answer.unwrap(), 42);
//!
//! for _ in 0..2 {
//!     let _ = breaker.call(|| async { Err::<(), _>("down") }).await;
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! // Fails fast, without running the operation.
//! let rejected = breaker.call(|| async { Ok::<_, &str>(()) }).await;
//! assert!(matches!(rejected, Err(BreakerError::Open { remaining }) if remaining <= Duration::from_secs(30)));
//!
//! // Or fall back to a default.
//! let cached = breaker.call_or_else(|| async { Ok::<_, &str>("fresh") }, |_| "cached").await;
//! assert_eq!(cached, "cached");
//! # Ok(())
//! # }
//! ```
//!
//! # Example: listeners
//!
//! Listeners run after the state change is committed, outside any lock; they may call
//! back into the breaker, and a panicking listener loses nothing.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use portcullis_circuit_breaker::CircuitBreaker;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), portcullis_circuit_breaker::ConfigError> {
//! let opened = Arc::new(AtomicUsize::new(0));
//! let failures = Arc::new(AtomicUsize::new(0));
//! let breaker = CircuitBreaker::builder()
//!     .max_failures(1)
//!     .on_open({
//!         let opened = opened.clone();
//!         move || { opened.fetch_add(1, Ordering::SeqCst); }
//!     })
//!     .on_call_failure({
//!         let failures = failures.clone();
//!         move |elapsed| { failures.fetch_add(1, Ordering::SeqCst); let _ = elapsed; }
//!     })
//!     .on_call_breaker_open(|| eprintln!("rejected a call: breaker open"))
//!     .build()?;
//!
//! let _ = breaker.call(|| async { Err::<(), _>("boom") }).await;
//! assert_eq!(opened.load(Ordering::SeqCst), 1);
//! assert_eq!(failures.load(Ordering::SeqCst), 1);
//! assert_eq!(breaker.snapshot().failures, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Names, events and metrics
//!
//! Every breaker has a [name](CircuitBreakerBuilder::name); the balanced client names each
//! instance's breaker `"{service}/{host}:{port}"`. Listeners may take the name
//! (`on_open(|name: &str| ...)`), [`on_state_change`](CircuitBreakerBuilder::on_state_change)
//! gets the name and both states, and [`CircuitBreaker::subscribe`] streams
//! [`BreakerEvent`]s through a bounded buffer that never slows a call. With feature
//! `metrics`, each breaker records `portcullis_breaker_state`,
//! `portcullis_breaker_calls_total{outcome}`, `portcullis_breaker_call_duration_seconds`
//! and `portcullis_breaker_transitions_total{from,to}`, labelled with its name, through
//! the [`metrics`](https://docs.rs/metrics) facade: the application installs the exporter
//! (before it builds its breakers); the README's table describes each family. To keep a
//! closed call within a few nanoseconds of a build without metrics, durations are sampled
//! (each thread's first call through a breaker, then one in 128) and successes and
//! rejections are exported in batches, exact after [`flush_metrics`] (which a `/metrics`
//! handler calls before rendering) and otherwise at most 127 successes and 255 rejections
//! per calling thread behind.
//!
#![cfg_attr(feature = "tower", doc = include_str!("docs/tower.md"))]
#![cfg_attr(feature = "reqwest", doc = include_str!("docs/client.md"))]
//! # Testing with time
//!
//! The default clock follows tokio's, so `tokio::time::pause()` (tokio feature
//! `test-util`) lets a test move past a 60-second reset timeout instantly; or inject a
//! [`ManualClock`] with [`CircuitBreakerBuilder::clock`]. With paused time, a call made
//! right after `tokio::time::advance` sees the breaker exactly as the clock says: the open
//! timer gives way to the clock as soon as the runtime's timer fires, before anything else
//! runs.
//!
//! # Feature flags
//!
//! | Feature   | Default | Enables |
//! |-----------|---------|---------|
//! | `tower`   | yes     | `CircuitBreakerLayer`, a tower 0.5 middleware |
//! | `reqwest` | yes     | `BalancedClient`, an HTTP client with one breaker per upstream instance and load balancing over the admitted ones |
//! | `metrics` | no      | each breaker's state, calls by outcome, sampled call durations and transitions through the [`metrics`](https://docs.rs/metrics) facade (see the README for the families) |
//!
//! With `default-features = false` only the core breaker (and `tokio`'s timer) remains.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod client;
mod clock;
mod config;
mod error;
mod listener;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod middleware;

pub use breaker::{
    BreakerEvent, BreakerEvents, CallFuture, CallOutcome, CircuitBreaker, Snapshot, State,
};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use client::{
    BalancedClient, BalancedClientBuilder, BalancedRequest, ClientBuildError, ClientError,
};
/// Brings the exported call counts (`portcullis_breaker_calls_total`) of every live
/// breaker up to date: call it before rendering the metrics (for example in the handler of
/// `GET /metrics`) so that a scrape sees every call.
///
/// Between flushes the exported counts of a breaker lag by a bounded number of calls: see
/// [`CircuitBreaker::flush_metrics`]. Durations are sampled and need no flush.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub fn flush_metrics() {
    breaker::flush_all_metrics();
}

pub use clock::{Clock, ManualClock, SystemClock, TokioClock};
pub use config::{CircuitBreakerBuilder, Classifier, DefaultClassifier, FailurePolicy, Outcome};
pub use error::{BreakerError, ConfigError};
pub use listener::{CallListener, EventListener};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use middleware::{CircuitBreakerLayer, CircuitBreakerService};

// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

//! A tower 0.5 middleware that runs every request through a [`CircuitBreaker`].
//!
//! [`CircuitBreakerLayer`] wraps a service in [`CircuitBreakerService`]. While the breaker
//! admits calls, requests go to the inner service and its results are classified (by
//! default every `Err` is a failure; see [`CircuitBreakerLayer::with_classifier`]); while
//! it is open, `call` returns an immediately ready [`BreakerError::Open`] without touching
//! the inner service. The breaker's call timeout, if set, bounds each response future.
//! Clones of the layer and of the service share one breaker.
//!
//! ```
//! use std::convert::Infallible;
//! use portcullis_circuit_breaker::{BreakerError, CircuitBreaker, CircuitBreakerLayer};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::builder().max_failures(1).build();
//! let layer = CircuitBreakerLayer::new(breaker.clone());
//! let mut service = layer.layer(service_fn(|fail: bool| async move {
//!     if fail { Err("upstream down") } else { Ok("pong") }
//! }));
//!
//! assert_eq!(service.ready().await.unwrap().call(false).await.unwrap(), "pong");
//! assert!(service.ready().await.unwrap().call(true).await.is_err());
//! // Tripped: the next request is rejected without reaching the inner service.
//! let rejected = service.ready().await.unwrap().call(false).await;
//! assert!(matches!(rejected, Err(BreakerError::Open { .. })));
//! # }
//! ```
//!
//! [`CircuitBreaker`]: crate::CircuitBreaker
//! [`BreakerError::Open`]: crate::BreakerError::Open

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use service::CircuitBreakerService;

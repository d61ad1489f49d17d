//! A tower 0.5 middleware that runs every request through a [`CircuitBreaker`]: see
//! [`CircuitBreakerLayer`] and, for an example, the [crate docs](crate#example-tower-layer).
//!
//! [`CircuitBreaker`]: crate::CircuitBreaker

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use service::CircuitBreakerService;

use tower::Layer;

use super::CircuitBreakerService;
use crate::{CircuitBreaker, DefaultClassifier};

/// Wraps services in [`CircuitBreakerService`]; configuration only. Clones share the
/// breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer over `breaker` that counts every `Err` as a failure and every `Ok` as a
    /// success.
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// A layer over `breaker` whose `classifier` decides what each result means, for
    /// example that an HTTP response with status 503 is a failure:
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// use portcullis_circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, Outcome};
    ///
    /// let layer = CircuitBreakerLayer::with_classifier(
    ///     CircuitBreaker::default(),
    ///     |result: &Result<u16, Infallible>| match result {
    ///         Ok(status) if *status >= 500 => Outcome::Failure,
    ///         _ => Outcome::Success,
    ///     },
    /// );
    /// # let _ = layer;
    /// ```
    pub fn with_classifier(breaker: CircuitBreaker, classifier: C) -> Self {
        Self {
            breaker,
            classifier,
        }
    }

    /// The shared breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::with_classifier(inner, self.breaker.clone(), self.classifier.clone())
    }
}

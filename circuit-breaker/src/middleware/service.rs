use std::task::{Context, Poll};

use tower::Service;

use super::ResponseFuture;
use crate::breaker::{Admitted, Permit};
use crate::{BreakerError, CircuitBreaker, Classifier, DefaultClassifier};

/// A service whose calls go through a [`CircuitBreaker`]. Clones share the breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, C = DefaultClassifier> {
    inner: S,
    breaker: CircuitBreaker,
    classifier: C,
}

impl<S> CircuitBreakerService<S> {
    /// Wraps `inner`; every `Err` counts as a failure.
    pub fn new(inner: S, breaker: CircuitBreaker) -> Self {
        Self::with_classifier(inner, breaker, DefaultClassifier)
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    /// Wraps `inner`; `classifier` decides what each result means.
    pub fn with_classifier(inner: S, breaker: CircuitBreaker, classifier: C) -> Self {
        Self {
            inner,
            breaker,
            classifier,
        }
    }

    /// The shared breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, Request> Service<Request> for CircuitBreakerService<S, C>
where
    S: Service<Request>,
    C: Classifier<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the inner service's; an open breaker answers from `call`, at once,
        // so that callers learn how long it stays open.
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match Permit::admit(self.breaker.shared.clone()) {
            Ok(permit) => ResponseFuture::admitted(Admitted::new(
                permit,
                self.inner.call(request),
                self.classifier.clone(),
            )),
            Err(remaining) => ResponseFuture::rejected(remaining),
        }
    }
}

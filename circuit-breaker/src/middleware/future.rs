use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::breaker::{Permit, Shared};
use crate::{BreakerError, Classifier};

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService):
    /// either an immediately ready rejection, or the inner future bounded by the call
    /// timeout. Dropped before it finishes, it counts nothing and frees its half-open
    /// permit.
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: Option<F>,
        #[pin]
        sleep: Option<Sleep>,
        permit: Option<Permit<Arc<Shared>>>,
        rejected: Option<Duration>,
        classifier: C,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(super) fn admitted(
        inner: F,
        permit: Permit<Arc<Shared>>,
        sleep: Option<Sleep>,
        classifier: C,
    ) -> Self {
        Self {
            inner: Some(inner),
            sleep,
            permit: Some(permit),
            rejected: None,
            classifier,
        }
    }

    pub(super) fn rejected(remaining: Duration, classifier: C) -> Self {
        Self {
            inner: None,
            sleep: None,
            permit: None,
            rejected: Some(remaining),
            classifier,
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classifier<T, E>,
{
    type Output = Result<T, BreakerError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(remaining) = this.rejected.take() {
            return Poll::Ready(Err(BreakerError::Open { remaining }));
        }
        let inner = this
            .inner
            .as_mut()
            .as_pin_mut()
            .expect("ResponseFuture polled after completion");
        if let Poll::Ready(result) = inner.poll(cx) {
            this.inner.set(None);
            if let Some(mut permit) = this.permit.take() {
                permit.complete(this.classifier.classify(&result));
            }
            return Poll::Ready(result.map_err(BreakerError::Inner));
        }
        if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
            ready!(sleep.poll(cx));
            // Cancel the call now rather than when this future is dropped.
            this.inner.set(None);
            this.sleep.set(None);
            let mut permit = this.permit.take().expect("an admitted call holds a permit");
            let elapsed = permit.call_timeout().unwrap_or_default();
            permit.complete_timeout(elapsed);
            return Poll::Ready(Err(BreakerError::Timeout { elapsed }));
        }
        Poll::Pending
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("running", &self.inner.is_some())
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

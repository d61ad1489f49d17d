use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::breaker::{Admitted, Shared};
use crate::{BreakerError, Classifier};

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService):
    /// either an immediately ready rejection, or the inner future bounded by the call
    /// timeout. Dropped before it finishes, it counts nothing and frees its half-open
    /// permit.
    pub struct ResponseFuture<F, C> {
        #[pin]
        call: Option<Admitted<Arc<Shared>, F, C>>,
        rejected: Option<Duration>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(super) fn admitted(call: Admitted<Arc<Shared>, F, C>) -> Self {
        Self {
            call: Some(call),
            rejected: None,
        }
    }

    pub(super) fn rejected(remaining: Duration) -> Self {
        Self {
            call: None,
            rejected: Some(remaining),
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
        let this = self.project();
        if let Some(remaining) = this.rejected.take() {
            return Poll::Ready(Err(BreakerError::Open { remaining }));
        }
        this.call
            .as_pin_mut()
            .expect("ResponseFuture polled after completion")
            .poll(cx)
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field(
                "running",
                &self.call.as_ref().is_some_and(Admitted::is_running),
            )
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

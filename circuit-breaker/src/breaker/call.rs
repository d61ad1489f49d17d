//! The future of [`CircuitBreaker::call`](super::CircuitBreaker::call): admission at the
//! first poll, then the shared [`Admitted`] path.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::admitted::Admitted;
use super::state_machine::Shared;
use crate::config::Classifier;
use crate::error::BreakerError;

pin_project! {
    /// The future of [`CircuitBreaker::call`](super::CircuitBreaker::call) and
    /// [`CircuitBreaker::call_with`](super::CircuitBreaker::call_with).
    ///
    /// The breaker admits the call at the first poll. Dropped before it finishes, the
    /// future counts nothing (and frees a half-open trial permit).
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<'a, F, Fut, C> {
        operation: Option<F>,
        #[pin]
        call: Admitted<&'a Shared, Fut, C>,
    }
}

impl<'a, F, Fut, C> CallFuture<'a, F, Fut, C> {
    pub(super) fn new(shared: &'a Shared, classifier: C, operation: F) -> Self {
        Self {
            operation: Some(operation),
            call: Admitted::unadmitted(shared, classifier),
        }
    }
}

impl<F, Fut, C, T, E> Future for CallFuture<'_, F, Fut, C>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classifier<T, E>,
{
    type Output = Result<T, BreakerError<E>>;

    // Each `call` site has its own `F` and `Fut`, so this is instantiated once per site and
    // inlining duplicates nothing; inlined, the result is built where the caller wants it
    // (returned through memory, a 40-byte result costs a store-forwarding stall: benches/).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut held = None;
        if let Some(operation) = this.operation.take() {
            match this.call.as_mut().start(operation) {
                Ok(ticket) => held = ticket,
                Err(remaining) => return Poll::Ready(Err(BreakerError::Open { remaining })),
            }
        }
        this.call.poll_held(cx, held)
    }
}

impl<F, Fut, C> fmt::Debug for CallFuture<'_, F, Fut, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture")
            .field("started", &self.operation.is_none())
            .field("call", &self.call)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Ready;

    use super::*;
    use crate::config::DefaultClassifier;

    #[test]
    fn a_call_future_is_no_larger_than_its_parts() {
        type Op = fn() -> Ready<Result<u64, ()>>;
        // The breaker, the ticket (niche-packed), the timer's box and the operation's
        // future: the shared admitted-call path adds nothing to the closed-call future.
        let parts = size_of::<&Shared>()
            + size_of::<Option<super::super::permit::Ticket>>()
            + size_of::<Option<Pin<Box<tokio::time::Sleep>>>>()
            + size_of::<Option<Ready<Result<u64, ()>>>>()
            + size_of::<Option<Op>>();
        assert!(
            size_of::<CallFuture<'static, Op, Ready<Result<u64, ()>>, DefaultClassifier>>()
                <= parts
        );
    }
}

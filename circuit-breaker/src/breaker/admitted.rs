//! The one path of a call through a breaker once it is admitted: run it under the call
//! timeout, then settle its permit. The breaker's [`CallFuture`](super::CallFuture), the
//! tower middleware's response future and the balanced client all run their calls
//! through [`Admitted`].

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::permit::{Permit, Ticket};
use super::state_machine::Shared;
use crate::config::Classifier;
use crate::error::BreakerError;

pin_project! {
    /// An admitted call bounded by the breaker's call timeout. When the call ends, its
    /// result is classified and the permit settled; past the timeout the call is dropped
    /// at once and the permit settled as a timeout. Dropped unfinished, it counts nothing
    /// and gives a half-open trial permit back.
    pub(crate) struct Admitted<S: Deref<Target = Shared>, Fut, C> {
        permit: Permit<S>,
        classifier: C,
        #[pin]
        running: Option<Fut>,
        deadline: Option<Pin<Box<Sleep>>>,
    }
}

/// The call timeout's timer: on the heap, so that calls without a timeout do not carry
/// its weight in their future, and out of line, so that their `poll` stays small.
#[inline(never)]
fn deadline(limit: Duration) -> Pin<Box<Sleep>> {
    Box::pin(tokio::time::sleep(limit))
}

/// Whether the call timeout has passed; then the timer is dropped. Out of line, so that
/// `poll` stays small enough to be inlined.
#[inline(never)]
fn expired(deadline: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> bool {
    let expired = deadline
        .as_mut()
        .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
    if expired {
        *deadline = None;
    }
    expired
}

impl<S: Deref<Target = Shared>, Fut, C> Admitted<S, Fut, C> {
    /// Runs `call`, admitted by `permit`; the call timeout starts now.
    #[cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]
    pub(crate) fn new(permit: Permit<S>, call: Fut, classifier: C) -> Self {
        let deadline = permit.call_timeout().map(deadline);
        Self {
            permit,
            classifier,
            running: Some(call),
            deadline,
        }
    }

    /// A call not admitted yet: see [`start`](Self::start).
    #[inline]
    pub(super) fn unadmitted(shared: S, classifier: C) -> Self {
        Self {
            permit: Permit::unadmitted(shared),
            classifier,
            running: None,
            deadline: None,
        }
    }

    /// Asks the breaker to admit the call of an [`unadmitted`](Self::unadmitted) one and,
    /// if it does, starts `operation` and the call timeout. The error is how long until
    /// the breaker half-opens. A closed-state ticket comes back for the caller to pass to
    /// [`poll_held`](Self::poll_held).
    #[allow(clippy::inline_always)] // the closed-state fast path, measured in benches/
    #[inline(always)]
    pub(super) fn start<F>(self: Pin<&mut Self>, operation: F) -> Result<Option<Ticket>, Duration>
    where
        F: FnOnce() -> Fut,
    {
        let mut this = self.project();
        let held = this.permit.admit_here()?;
        if let Some(limit) = this.permit.call_timeout() {
            *this.deadline = Some(deadline(limit));
        }
        this.running.set(Some(operation()));
        Ok(held)
    }

    /// Polls the call; `held` is a ticket [`start`](Self::start) just returned.
    #[allow(clippy::inline_always)] // inlined, the result is built where the caller wants it
    #[inline(always)]
    pub(super) fn poll_held<T, E>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        held: Option<Ticket>,
    ) -> Poll<Result<T, BreakerError<E>>>
    where
        Fut: Future<Output = Result<T, E>>,
        C: Classifier<T, E>,
    {
        let mut this = self.project();
        let running = this
            .running
            .as_mut()
            .as_pin_mut()
            .expect("a call through a circuit breaker polled after completion");
        if let Poll::Ready(result) = running.poll(cx) {
            this.running.set(None);
            this.permit.settle(held, this.classifier.classify(&result));
            return Poll::Ready(result.map_err(BreakerError::Inner));
        }
        this.permit.hold(held);
        if this.deadline.is_some() && expired(this.deadline, cx) {
            // Cancel the call now, not when this future is dropped.
            this.running.set(None);
            let elapsed = this.permit.call_timeout().unwrap_or_default();
            this.permit.settle_timeout(elapsed);
            return Poll::Ready(Err(BreakerError::Timeout { elapsed }));
        }
        Poll::Pending
    }

    /// Whether the call is running (admitted and not finished).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

impl<S, Fut, C, T, E> Future for Admitted<S, Fut, C>
where
    S: Deref<Target = Shared>,
    Fut: Future<Output = Result<T, E>>,
    C: Classifier<T, E>,
{
    type Output = Result<T, BreakerError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_held(cx, None)
    }
}

impl<S: Deref<Target = Shared>, Fut, C> fmt::Debug for Admitted<S, Fut, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitted")
            .field("running", &self.running.is_some())
            .field("permit", &self.permit)
            .field("deadline", &self.deadline.is_some())
            .finish_non_exhaustive()
    }
}

//! The request timeout of the defaults: a runtime timer only for requests that wait.
//!
//! tower-http's `TimeoutLayer` builds a tokio `Sleep` for every request, before the
//! handler runs: a clock read, a runtime handle, and a future several cache lines long
//! carried through every layer outside it. Most requests of a typical service never wait:
//! their handler finishes on its first poll. This layer reads the clock when the request
//! arrives and does nothing else until the handler first returns `Pending`; only then does
//! it arm a (boxed) tokio timer for what is left of the timeout. The answer on expiry is
//! the same: an empty 504, which the defaults turn into the error model.
//!
//! It runs on tokio's clock, so paused-time tests (`tokio::time::pause`) drive it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tokio::time::{Instant, Sleep};
use tower::Service;

/// Answers with an empty 504 when the inner service takes longer than `timeout`.
#[derive(Debug, Clone)]
pub(crate) struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S> RequestTimeout<S> {
    pub(crate) fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestTimeout<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequestTimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // An unrepresentable deadline (a timeout of centuries) means no timeout.
        let deadline = Instant::now().checked_add(self.timeout);
        RequestTimeoutFuture {
            inner: self.inner.call(request),
            deadline,
            timer: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RequestTimeout`].
    pub(crate) struct RequestTimeoutFuture<F> {
        #[pin]
        inner: F,
        deadline: Option<Instant>,
        // Boxed: armed only when the request waits, and small until then.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<F, ResBody, E> Future for RequestTimeoutFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(output);
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
                Poll::Ready(Ok(response))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    fn service(
        work: Duration,
    ) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send> + Clone
    {
        tower::service_fn(move |_: Request<()>| async move {
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            Ok::<_, Infallible>(Response::new("done".to_owned()))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_waits_too_long_gets_504_at_the_deadline() {
        let started = Instant::now();
        let response =
            RequestTimeout::new(service(Duration::from_secs(60)), Duration::from_secs(5))
                .oneshot(Request::new(()))
                .await
                .unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(response.body().is_empty());
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_waits_less_than_the_timeout_is_answered() {
        let response = RequestTimeout::new(service(Duration::from_secs(4)), Duration::from_secs(5))
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "done");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_call_not_from_the_first_wait() {
        let mut layered =
            RequestTimeout::new(service(Duration::from_secs(3)), Duration::from_secs(5));
        let future = layered.call(Request::new(()));
        // Three seconds pass between the call and the first poll: two are left.
        tokio::time::advance(Duration::from_secs(3)).await;
        let started = Instant::now();
        let response = future.await.unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_request_that_never_waits_arms_no_timer() {
        let mut layered = RequestTimeout::new(service(Duration::ZERO), Duration::from_secs(5));
        let mut future = std::pin::pin!(layered.call(Request::new(())));
        let waker = std::task::Waker::noop();
        let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut Context::from_waker(waker))
        else {
            panic!("the inner service is ready at once");
        };
        assert_eq!(response.status(), StatusCode::OK);
        assert!(future.timer.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_beyond_any_deadline_never_fires() {
        let response = RequestTimeout::new(service(Duration::from_secs(3600)), Duration::MAX)
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

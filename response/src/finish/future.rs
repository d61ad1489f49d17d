//! The future of [`FinishResponse`](super::FinishResponse).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::Either;

use super::finish_response;

pin_project_lite::pin_project! {
    /// Passes a success through and finishes an error response.
    pub(crate) struct FinishResponseFuture<F> {
        #[pin]
        inner: F,
        wants_problem: bool,
    }
}

impl<F> FinishResponseFuture<F> {
    pub(super) fn new(inner: F, wants_problem: bool) -> Self {
        Self {
            inner,
            wants_problem,
        }
    }
}

impl<F, ResBody, E> Future for FinishResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<Either<ResBody, Body>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error()) {
            // Success passes through as it is: boxing its body would cost an allocation
            // and a dynamic call on every read of it.
            return Poll::Ready(Ok(response.map(Either::Left)));
        }
        let response = finish_response(response.map(Body::new), *this.wants_problem);
        Poll::Ready(Ok(response.map(Either::Right)))
    }
}

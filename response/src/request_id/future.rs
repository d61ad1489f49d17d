//! The future of [`SetRequestId`](super::SetRequestId): puts the id on the response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::response::Response;
use http::HeaderValue;

use super::REQUEST_ID;

pin_project_lite::pin_project! {
    /// Sets `id` on the inner service's response unless the handler set one.
    pub(crate) struct SetRequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F> SetRequestIdFuture<F> {
    pub(super) fn new(inner: F, id: HeaderValue) -> Self {
        Self {
            inner,
            id: Some(id),
        }
    }
}

impl<F, ResBody, E> Future for SetRequestIdFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        // A handler that set its own id keeps it.
        if let Some(id) = this.id.take() {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        Poll::Ready(Ok(response))
    }
}

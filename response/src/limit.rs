//! The request body limit of the defaults: a 413 up front when the body's size is known
//! and too large, a counting wrapper only when it is not known.
//!
//! tower-http's `RequestBodyLimitLayer` wraps every request body in `Limited` and every
//! response body in its own type, which axum then boxes again: two allocations and two
//! dynamic calls per request, even for a `GET` without a body. A body whose length is known
//! (a `Content-Length`, or none at all) cannot grow past it, because the HTTP framing ends it
//! there, so it needs no counting. Only a body of unknown length (chunked) is wrapped in
//! `http_body_util::Limited`, whose error axum's extractors turn into 413.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use http_body::Body as _;
use tower::Service;

/// Refuses request bodies longer than `limit` bytes with an empty 413.
#[derive(Debug, Clone)]
pub(crate) struct BodyLimit<S> {
    inner: S,
    limit: usize,
}

impl<S> BodyLimit<S> {
    pub(crate) fn new(inner: S, limit: usize) -> Self {
        Self { inner, limit }
    }
}

impl<S, ResBody> Service<Request> for BodyLimit<S>
where
    S: Service<Request, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BodyLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limit = u64::try_from(self.limit).unwrap_or(u64::MAX);
        let request = match request.body().size_hint().upper() {
            Some(length) if length > limit => return BodyLimitFuture::TooLarge,
            Some(_) => request,
            None => request.map(|body| Body::new(http_body_util::Limited::new(body, self.limit))),
        };
        BodyLimitFuture::Inner {
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`BodyLimit`].
    #[project = BodyLimitProjection]
    pub(crate) enum BodyLimitFuture<F> {
        Inner { #[pin] inner: F },
        TooLarge,
    }
}

impl<F, ResBody, E> Future for BodyLimitFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            BodyLimitProjection::Inner { inner } => inner.poll(cx),
            BodyLimitProjection::TooLarge => {
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                Poll::Ready(Ok(response))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::convert::Infallible;
    use tower::ServiceExt;

    /// Reads the whole body with no limit of its own and answers with its length, or 413
    /// when reading it fails on the limit.
    async fn read_all(request: Request) -> Result<Response, Infallible> {
        let mut response = Response::new(Body::empty());
        match axum::body::to_bytes(request.into_body(), usize::MAX).await {
            Ok(bytes) => *response.body_mut() = Body::from(bytes.len().to_string()),
            Err(_) => *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE,
        }
        Ok(response)
    }

    fn limited() -> impl Service<Request, Response = Response, Error = Infallible> {
        BodyLimit::new(tower::service_fn(read_all), 10)
    }

    fn chunked(chunks: &'static [&'static str]) -> Body {
        Body::from_stream(futures_util::stream::iter(
            chunks
                .iter()
                .map(|chunk| Ok::<_, Infallible>(Bytes::from_static(chunk.as_bytes()))),
        ))
    }

    async fn answer(body: Body) -> (StatusCode, Bytes) {
        let response = limited().oneshot(Request::new(body)).await.unwrap();
        let status = response.status();
        (
            status,
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn a_known_length_over_the_limit_is_refused_before_the_handler() {
        let (status, body) = answer(Body::from("eleven byte")).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn bodies_within_the_limit_reach_the_handler_whole() {
        assert_eq!(answer(Body::from("ten bytes!")).await.1, "10");
        assert_eq!(answer(Body::empty()).await.1, "0");
        assert_eq!(answer(chunked(&["five ", "more!"])).await.1, "10");
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_cut_at_the_limit() {
        let (status, _) = answer(chunked(&["six by", "tes and more"])).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}

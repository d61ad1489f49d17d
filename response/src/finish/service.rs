//! [`FinishResponse`], the service that brings error responses into the model.

use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::Either;
use tower::Service;

use super::future::FinishResponseFuture;
use super::problem::accepts_problem_json;

/// Brings every error response into the model, then into problem+json if asked for.
/// A plain service rather than an axum middleware function: no boxed future, and a
/// successful response passes through untouched.
#[derive(Debug, Clone)]
pub(crate) struct FinishResponse<S> {
    inner: S,
    problem_json: bool,
}

impl<S> FinishResponse<S> {
    /// `problem_json` allows problem+json bodies for clients that ask for them.
    pub(crate) fn new(inner: S, problem_json: bool) -> Self {
        Self {
            inner,
            problem_json,
        }
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for FinishResponse<S>
where
    S: Service<http::Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<Either<ResBody, Body>>;
    type Error = S::Error;
    type Future = FinishResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let wants_problem = self.problem_json && accepts_problem_json(request.headers());
        FinishResponseFuture::new(self.inner.call(request), wants_problem)
    }
}

//! [`SetRequestId`], the service that gives every request an id.

use std::task::{Context, Poll};

use axum::response::Response;
use http::HeaderValue;
use http::header::Entry;
use tower::Service;

use super::REQUEST_ID;
use super::future::SetRequestIdFuture;
use super::generate::new_request_id;

/// The longest incoming request id kept; longer or oddly spelled ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Gives every request an `x-request-id` and its response the same one.
#[derive(Debug, Clone)]
pub(crate) struct SetRequestId<S> {
    inner: S,
}

impl<S> SetRequestId<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for SetRequestId<S>
where
    S: Service<http::Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = SetRequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // One lookup of the header name for the check and the insert.
        let id = match request.headers_mut().entry(REQUEST_ID) {
            // A clone of a parsed header shares the connection's buffer: no copy.
            Entry::Occupied(entry) if is_safe_request_id(entry.get()) => entry.get().clone(),
            Entry::Occupied(mut entry) => {
                let id = new_request_id();
                entry.insert(id.clone());
                id
            }
            Entry::Vacant(entry) => entry.insert(new_request_id()).clone(),
        };
        SetRequestIdFuture::new(self.inner.call(request), id)
    }
}

/// A client's request id ends up in logs and responses: keep only short, plain ones.
fn is_safe_request_id(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b))
}

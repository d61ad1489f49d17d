//! [`GuardService`] and [`Require`].

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Request, header};
use tower::Service;

use super::future::ResponseFuture;
use crate::claims::Verified;
use crate::guard::Attempt;
use crate::metrics;
use crate::{Guard, GuardError};

/// Verifies the bearer token of each request before the inner service sees it.
#[derive(Debug, Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
    optional: bool,
}

impl<S> GuardService<S> {
    /// Wraps `inner`; with `optional`, requests without bearer credentials pass through.
    pub fn new(inner: S, guard: Guard, optional: bool) -> Self {
        Self {
            inner,
            guard,
            optional,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The bearer token of `headers`: `Ok(None)` when there are no bearer credentials.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, GuardError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(GuardError::InvalidRequest("Repeated authorization header"));
    }
    // A valid header value holds no control characters, so ASCII here is what
    // `HeaderValue::to_str` accepts; `is_ascii` checks a word at a time where `to_str`
    // checks a byte at a time, and a token is about half a kilobyte.
    let bytes = value.as_bytes();
    let value = Some(bytes)
        .filter(|bytes| bytes.is_ascii())
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .ok_or(GuardError::InvalidRequest("Malformed authorization header"))?
        .trim_matches(|c| c == ' ' || c == '\t');
    if value.is_empty() {
        return Err(GuardError::InvalidRequest("Empty authorization header"));
    }
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, Digest, ...) carries no bearer credentials.
        return Ok(None);
    }
    let token = credentials.trim_start_matches(' ');
    if token.is_empty() {
        return Err(GuardError::InvalidRequest("Missing bearer token"));
    }
    Ok(Some(token))
}

impl<S, B> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let token = match bearer_token(request.headers()) {
            Ok(Some(token)) => token,
            Ok(None) if self.optional => return ResponseFuture::inner(self.inner.call(request)),
            Ok(None) => return self.reject(GuardError::MissingCredentials),
            Err(error) => return self.reject(error),
        };
        match self.guard.try_verify(token, true) {
            Attempt::Done(Ok(verified)) => {
                self.guard.count(Ok(()));
                request.extensions_mut().insert(verified);
                ResponseFuture::inner(self.inner.call(request))
            }
            Attempt::Done(Err(error)) => self.reject(error),
            Attempt::NeedsKeys(_) => {
                // The ready service goes into the future; a fresh clone stays here.
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                let guard = self.guard.clone();
                let token = token.to_owned();
                ResponseFuture::waiting(Box::pin(async move {
                    match guard.verify_shared(&token).await {
                        Ok(verified) => {
                            request.extensions_mut().insert(verified);
                            ready.call(request).await
                        }
                        Err(error) => Ok(error.into_api_error(guard.realm()).into_response()),
                    }
                }))
            }
        }
    }
}

impl<S> GuardService<S> {
    /// Refuses the request, counting it in the metrics.
    fn reject<F: std::future::Future>(&self, error: GuardError) -> ResponseFuture<F> {
        self.guard.count(Err(&error));
        reject(error, self.guard.realm())
    }
}

fn reject<F: std::future::Future>(error: GuardError, realm: Option<&str>) -> ResponseFuture<F> {
    ResponseFuture::rejected(error.into_api_error(realm).into_response())
}

/// What a [`Require`] checks.
#[derive(Debug, Clone)]
pub(crate) enum Requirement {
    Role(Arc<str>),
    Scope(Arc<str>),
}

/// Lets a request through only when its verified token has a role or scope.
#[derive(Debug, Clone)]
pub struct Require<S> {
    inner: S,
    requirement: Requirement,
}

impl<S> Require<S> {
    pub(crate) fn new(inner: S, requirement: Requirement) -> Self {
        Self { inner, requirement }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for Require<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some(verified) = request.extensions().get::<Arc<Verified>>() else {
            return refuse(GuardError::MissingCredentials);
        };
        let allowed = match &self.requirement {
            Requirement::Role(role) => verified.claims.require_role(role),
            Requirement::Scope(scope) => verified.claims.require_scope(scope),
        };
        match allowed {
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            Err(error) => refuse(error),
        }
    }
}

/// Refuses a request that lacks a role or scope, counting it in the metrics.
fn refuse<F: std::future::Future>(error: GuardError) -> ResponseFuture<F> {
    metrics::rejected_by_requirement(&error);
    reject(error, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER  a.b.c",
            " Bearer a.b.c ",
        ] {
            assert_eq!(bearer_token(&headers(&[v])).unwrap(), Some("a.b.c"), "{v}");
        }
    }

    #[test]
    fn a_non_ascii_header_is_an_invalid_request() {
        let mut map = HeaderMap::new();
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes("Bearer a.b.\u{e9}".as_bytes()).unwrap(),
        );
        assert!(matches!(
            bearer_token(&map),
            Err(GuardError::InvalidRequest("Malformed authorization header"))
        ));
    }

    #[test]
    fn other_schemes_are_no_bearer_credentials() {
        assert_eq!(bearer_token(&headers(&["Basic YTpi"])).unwrap(), None);
        assert_eq!(bearer_token(&headers(&[])).unwrap(), None);
    }

    #[test]
    fn empty_repeated_or_token_less_headers_are_invalid_requests() {
        for h in [
            &["", ""][..1],
            &["Bearer a", "Bearer b"][..],
            &["Bearer"][..],
            &["Bearer   "][..],
        ] {
            assert!(
                matches!(
                    bearer_token(&headers(h)),
                    Err(GuardError::InvalidRequest(_))
                ),
                "{h:?}"
            );
        }
    }
}

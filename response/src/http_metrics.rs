//! The HTTP metrics of the defaults (feature `metrics`), through the `metrics` facade (the
//! application installs the exporter, e.g. `metrics-exporter-prometheus`):
//!
//! | name | type | labels |
//! | ---- | ---- | ------ |
//! | `portcullis_http_requests_total` | counter | `method`, `route`, `status` |
//! | `portcullis_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//!
//! `route` is the route template (`/api/v1/movies/{id}`), never the raw path, and
//! `unmatched` for requests no route matched; `method` is one of the standard methods or
//! `other`; `status` is the class (`2xx` ... `5xx`). Every label has a bounded set of
//! values, as Prometheus's naming guide asks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::response::Response;
use http::{Method, Request};
use tower::Service;

/// The request counter's name.
pub const HTTP_REQUESTS_TOTAL: &str = "portcullis_http_requests_total";
/// The request duration histogram's name.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "portcullis_http_request_duration_seconds";

static DESCRIBE: Once = Once::new();

/// Counts and times every request by route template, method and status class.
#[derive(Debug, Clone)]
pub(crate) struct HttpMetrics<S> {
    inner: S,
}

impl<S> HttpMetrics<S> {
    pub(crate) fn new(inner: S) -> Self {
        DESCRIBE.call_once(|| {
            metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered");
            metrics::describe_histogram!(
                HTTP_REQUEST_DURATION_SECONDS,
                metrics::Unit::Seconds,
                "Time from a request's arrival to its response head"
            );
        });
        Self { inner }
    }
}

impl<S, B, ResBody> Service<Request<B>> for HttpMetrics<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = HttpMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
        let method = method_label(request.method());
        HttpMetricsFuture {
            inner: self.inner.call(request),
            method,
            route: Some(route),
            started: Instant::now(),
        }
    }
}

/// A standard method's name, else `other`: a client cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `2xx` for 200-299, and so on.
fn status_class(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

pin_project_lite::pin_project! {
    /// Records the request when its response is ready.
    pub(crate) struct HttpMetricsFuture<F> {
        #[pin]
        inner: F,
        method: &'static str,
        route: Option<String>,
        started: Instant,
    }
}

impl<F, ResBody, E> Future for HttpMetricsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(route)) = (&result, this.route.take()) {
            let labels = [
                ("method", (*this.method).to_owned()),
                ("route", route),
                ("status", status_class(response.status()).to_owned()),
            ];
            metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
            metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels)
                .record(this.started.elapsed().as_secs_f64());
        }
        Poll::Ready(result)
    }
}

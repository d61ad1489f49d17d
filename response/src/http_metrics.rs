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

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Once, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::response::Response;
use http::{Method, Request};
use metrics::{Counter, Histogram};
use tower::Service;

/// The request counter's name.
pub const HTTP_REQUESTS_TOTAL: &str = "portcullis_http_requests_total";
/// The request duration histogram's name.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "portcullis_http_request_duration_seconds";

static DESCRIBE: Once = Once::new();

/// Counts and times every request by route template, method and status class.
#[derive(Clone)]
pub(crate) struct HttpMetrics<S> {
    inner: S,
    handles: Arc<HandleCache>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for HttpMetrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The metric handles of one label set, registered at its first request.
struct Handles {
    requests: Counter,
    duration: Histogram,
}

/// The methods of [`method_label`], in the order of their cells.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other",
];
/// The classes of [`status_class`], in the order of their cells.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One route's template and handles: a cell per method and status class.
struct RouteHandles {
    route: Box<str>,
    cells: [OnceLock<Handles>; METHODS.len() * CLASSES.len()],
}

/// The handles of every label set met so far, by route template. Looking a counter and a
/// histogram up by their labels on each request costs six label copies and two registry
/// lookups; a route's handles found by its `&str` cost one read lock and a hash
/// (docs/benchmarks.md, "Services", has the service-level figure with metrics on). The
/// routes are the router's templates and `unmatched`, so the map stays small.
#[derive(Default)]
struct HandleCache(RwLock<HashMap<Box<str>, Arc<RouteHandles>>>);

impl HandleCache {
    fn route(&self, route: &str) -> Arc<RouteHandles> {
        if let Some(found) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return Arc::clone(found);
        }
        let mut routes = self.0.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(routes.entry(route.into()).or_insert_with(|| {
            Arc::new(RouteHandles {
                route: route.into(),
                cells: std::array::from_fn(|_| OnceLock::new()),
            })
        }))
    }
}

/// Records one answered request in its label set's handles.
fn record(handles: &RouteHandles, method: usize, class: usize, seconds: f64) {
    let cell = handles.cells[method * CLASSES.len() + class].get_or_init(|| {
        let labels = [
            ("method", METHODS[method].to_owned()),
            ("route", handles.route.to_string()),
            ("status", CLASSES[class].to_owned()),
        ];
        Handles {
            requests: metrics::counter!(HTTP_REQUESTS_TOTAL, &labels),
            duration: metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels),
        }
    });
    cell.requests.increment(1);
    cell.duration.record(seconds);
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
        Self {
            inner,
            handles: Arc::default(),
        }
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
            .map_or("unmatched", MatchedPath::as_str);
        let handles = self.handles.route(route);
        let method = method_label(request.method());
        HttpMetricsFuture {
            inner: self.inner.call(request),
            method,
            recording: Some(handles),
            started: Instant::now(),
        }
    }
}

/// The index in [`METHODS`] of a standard method, else of `other`: a client cannot grow
/// the label set.
fn method_label(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// The index in [`CLASSES`]: `2xx` for 200-299, and so on.
fn status_class(status: http::StatusCode) -> usize {
    match status.as_u16() {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

pin_project_lite::pin_project! {
    /// Records the request when its response is ready.
    pub(crate) struct HttpMetricsFuture<F> {
        #[pin]
        inner: F,
        method: usize,
        recording: Option<Arc<RouteHandles>>,
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
        if let (Ok(response), Some(handles)) = (&result, this.recording.take()) {
            record(
                &handles,
                *this.method,
                status_class(response.status()),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(result)
    }
}

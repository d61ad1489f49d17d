//! The defaults a service installs once: fallbacks, body limit, panics, request ids, timeout,
//! and the conversion of every other error response into the model.

use std::any::Any;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use http_body_util::Either;
use serde::Serialize;
use tower::layer::layer_fn;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::ErrorMarker;
use crate::extract::code_for_status;
use crate::limit::BodyLimit;
use crate::timeout::RequestTimeout;
use crate::{ApiError, ErrorCode};

/// The request and response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// [`REQUEST_ID_HEADER`] as a header name: looking a `&str` up parses it on every call.
const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

/// The longest incoming request id kept; longer or oddly spelled ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The settings of [`RouterExt::with_portcullis_defaults`].
///
/// ```
/// use std::time::Duration;
/// use portcullis_response::ServiceDefaults;
///
/// let defaults = ServiceDefaults::new()
///     .body_limit(64 * 1024)
///     .timeout(Duration::from_secs(5));
/// # let _ = defaults;
/// ```
#[derive(Debug, Clone)]
pub struct ServiceDefaults {
    body_limit: usize,
    timeout: Duration,
    problem_json: bool,
}

impl Default for ServiceDefaults {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            timeout: Duration::from_secs(30),
            problem_json: true,
        }
    }
}

impl ServiceDefaults {
    /// The defaults: 1 MiB body limit, 30 s timeout, problem+json on request.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest request body accepted, in bytes; larger ones get 413
    /// [`PayloadTooLarge`](ErrorCode::PayloadTooLarge), whether the `Content-Length` says so
    /// up front or the limit is hit while the body is read. It caps axum's own extractors
    /// too (their separate 2 MB default is replaced by this value). Default is 1 MiB.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long a request may take before it is answered with 504
    /// [`Timeout`](ErrorCode::Timeout). Default is 30 seconds.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether error responses become RFC 9457 `application/problem+json` when the request's
    /// `Accept` names that type. Default is `true`.
    #[must_use]
    pub fn problem_json(mut self, enabled: bool) -> Self {
        self.problem_json = enabled;
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl<S> Sealed for axum::Router<S> {}
}

/// Installs the Portcullis defaults on an axum [`Router`].
///
/// This trait is sealed: it is implemented for [`Router`] only.
pub trait RouterExt: sealed::Sealed + Sized {
    /// Adds, to every route registered so far (so call it last; it replaces any fallback
    /// set before):
    ///
    /// - the [`not_found`] fallback (404) and the [`method_not_allowed`] fallback (405, with
    ///   axum's `Allow` header);
    /// - a request body limit ([`ServiceDefaults::body_limit`], 413);
    /// - a request timeout ([`ServiceDefaults::timeout`], 504);
    /// - panics caught and answered with 500 [`Internal`](ErrorCode::Internal); the panic
    ///   message goes to the log, never to the body;
    /// - any other 4xx/5xx response that is not already JSON (a plain-text rejection of
    ///   axum's own extractors, a bare status from a layer) rewritten as `{code, message}`
    ///   with a code chosen by its status, keeping its status and headers;
    /// - RFC 9457 `application/problem+json` error bodies when the client asks for them
    ///   ([`ServiceDefaults::problem_json`]);
    /// - `Connection: close` on every 413 response: a client that sent a body too large
    ///   may still be sending it, so the connection cannot serve another request;
    /// - an `x-request-id` taken from the request (when it is at most 128 characters of
    ///   `A-Z a-z 0-9 - _ . : + / =`) or generated, set on the response and recorded in a
    ///   `request` tracing span with the method and path (never the query, which may carry
    ///   secrets); each response is logged at `INFO` in that span.
    ///
    /// A generated request id is shaped like a UUID (RFC 9562 version 8, 36 characters):
    /// 60 random bits drawn once per process, then a counter. It is unique within the
    /// process and, with overwhelming probability, across processes, which is what log
    /// correlation needs; it costs no system call per request. It is not a secret and not
    /// unguessable: it reveals how many requests the process has generated ids for, so
    /// never use it as a token or a capability.
    #[must_use]
    fn with_portcullis_defaults(self, defaults: ServiceDefaults) -> Self;
}

impl<S> RouterExt for Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn with_portcullis_defaults(self, defaults: ServiceDefaults) -> Self {
        // One `Router::layer` call for the whole stack: each call boxes the route again and
        // clones that box per request. In a `ServiceBuilder` the first layer is outermost.
        let ServiceDefaults {
            body_limit,
            timeout,
            problem_json,
        } = defaults;
        let layers = ServiceBuilder::new()
            .layer(layer_fn(|inner| SetRequestId { inner }))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                    // 5xx are already logged with their cause by `ApiError`.
                    .on_failure(()),
            )
            .layer(layer_fn(move |inner| FinishResponse {
                inner,
                problem_json,
            }))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(layer_fn(move |inner| RequestTimeout::new(inner, timeout)))
            .layer(layer_fn(move |inner| BodyLimit::new(inner, body_limit)))
            .layer(DefaultBodyLimit::max(body_limit));
        self.fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(layers)
    }
}

/// The fallback for unknown routes: 404 [`NotFound`](ErrorCode::NotFound).
pub async fn not_found() -> ApiError {
    ApiError::not_found("No route for this path")
}

/// The fallback for a route without a handler for the request's method: 405
/// [`MethodNotAllowed`](ErrorCode::MethodNotAllowed). axum adds the `Allow` header.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "Method not allowed on this route",
    )
}

fn request_span(request: &Request) -> tracing::Span {
    // The field values are only computed when the span is enabled.
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default(),
    )
}

/// Gives every request an `x-request-id` and its response the same one.
///
/// One service in place of tower-http's `SetRequestId` and `PropagateRequestId`, measured
/// side by side at 5-10% of a small handler's throughput together: they store the id in the
/// request's extensions too (an allocation per request for a map no handler here reads)
/// and clone it through `Bytes` more than once. Handlers and the trace span read the id
/// from the request's header.
#[derive(Debug, Clone)]
struct SetRequestId<S> {
    inner: S,
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
        SetRequestIdFuture {
            inner: self.inner.call(request),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    struct SetRequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
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

/// A fresh id as a header value. Its bytes live in one shared allocation, so the copy
/// that goes on the response is a reference count, not a second allocation.
fn new_request_id() -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from_owner(next_request_id()))
        .expect("hex digits and dashes are a valid header value")
}

static REQUEST_ID_PREFIX: OnceLock<u64> = OnceLock::new();
static REQUEST_ID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random bits: the keys of std's `RandomState` come from the operating system's random
/// source (read once per thread), and its keyed hash is as unpredictable as those keys.
fn random_prefix() -> u64 {
    RandomState::new().hash_one(std::process::id())
}

fn next_request_id() -> [u8; 36] {
    let prefix = *REQUEST_ID_PREFIX.get_or_init(random_prefix);
    let count = REQUEST_ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    request_id_text(prefix, count)
}

/// `prefix` and `count` as `xxxxxxxx-xxxx-8xxx-Nxxx-xxxxxxxxxxxx`; the version and variant
/// bits replace 4 bits of the prefix and the top 2 bits of the count (reached after 2^62
/// requests only).
fn request_id_text(prefix: u64, count: u64) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&prefix.to_be_bytes());
    raw[8..].copy_from_slice(&count.to_be_bytes());
    raw[6] = (raw[6] & 0x0f) | 0x80;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (index, byte) in raw.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0x0f)];
        at += 2;
    }
    text
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

#[expect(
    clippy::needless_pass_by_value,
    reason = "the signature `CatchPanicLayer::custom` asks for"
)]
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

/// Whether the request's `Accept` names `application/problem+json` (with a non-zero `q`).
fn accepts_problem_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut params = range.split(';').map(str::trim);
            let media_type = params.next().unwrap_or_default();
            let refused = params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media_type.eq_ignore_ascii_case(PROBLEM_JSON) && !refused
        })
}

const PROBLEM_JSON: &str = "application/problem+json";

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim())
        .is_some_and(|essence| {
            let essence = essence.to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
}

/// Brings every error response into the model, then into problem+json if asked for.
/// A plain service rather than an axum middleware function: no boxed future, and a
/// successful response passes through untouched.
#[derive(Debug, Clone)]
struct FinishResponse<S> {
    inner: S,
    problem_json: bool,
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
        FinishResponseFuture {
            inner: self.inner.call(request),
            wants_problem,
        }
    }
}

pin_project_lite::pin_project! {
    struct FinishResponseFuture<F> {
        #[pin]
        inner: F,
        wants_problem: bool,
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

/// The error `response` in the model, as the client asked for it.
fn finish_response(response: Response, wants_problem: bool) -> Response {
    let status = response.status();
    let mut response = into_model(response);
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the oversized body may still be on its way: the connection cannot
        // carry another request (hyper closes it after this response).
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if wants_problem {
        into_problem(response)
    } else {
        response
    }
}

/// Rewrites an error response that is neither an [`ApiError`] nor JSON as `{code, message}`,
/// keeping its status and headers.
fn into_model(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error
        || response.extensions().get::<ErrorMarker>().is_some()
        || is_json(response.headers())
    {
        return response;
    }
    let code = code_for_status(status);
    let message = match code {
        ErrorCode::NotFound => "Not found",
        ErrorCode::MethodNotAllowed => "Method not allowed on this route",
        ErrorCode::PayloadTooLarge => "Request body is too large",
        ErrorCode::Timeout => "Request timed out",
        ErrorCode::Internal => "Internal server error",
        _ => status.canonical_reason().unwrap_or("Request failed"),
    };
    let model = ApiError::new(code, message)
        .with_status(status)
        .into_response();
    let (mut parts, _) = response.into_parts();
    let (model_parts, body) = model.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(model_parts.headers);
    parts.extensions.extend(model_parts.extensions);
    Response::from_parts(parts, body)
}

/// An RFC 9457 problem details object, with the stable code as an extension member.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: String,
    status: u16,
    detail: &'a str,
    code: i32,
}

/// The problem type URI of `code`: its entry in `docs/error-codes.md`.
fn problem_type(code: ErrorCode) -> String {
    format!(
        "{}/blob/main/docs/error-codes.md#{}",
        env!("CARGO_PKG_REPOSITORY"),
        code.name()
    )
}

/// `"payload_too_large"` as `"Payload too large"`.
fn problem_title(code: ErrorCode) -> String {
    let mut title = code.name().replace('_', " ");
    title[..1].make_ascii_uppercase();
    title
}

fn into_problem(response: Response) -> Response {
    let Some(marker) = response.extensions().get::<ErrorMarker>().cloned() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let problem = Problem {
        type_uri: problem_type(marker.code),
        title: problem_title(marker.code),
        status: parts.status.as_u16(),
        detail: &marker.message,
        code: marker.code.as_i32(),
    };
    // Strings and integers only: serialization cannot fail.
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        HeaderMap::from_iter([(header::ACCEPT, HeaderValue::from_static(value))])
    }

    #[test]
    fn problem_json_is_wanted_only_when_named_with_a_positive_q() {
        assert!(accepts_problem_json(&accept("application/problem+json")));
        assert!(accepts_problem_json(&accept(
            "application/json;q=0.9, Application/Problem+JSON;q=0.5"
        )));
        assert!(!accepts_problem_json(&accept(
            "application/problem+json;q=0"
        )));
        assert!(!accepts_problem_json(&accept("application/json, */*")));
        assert!(!accepts_problem_json(&HeaderMap::new()));
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &'static str| {
            HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static(value))])
        };
        assert!(is_json(&with("application/json; charset=utf-8")));
        assert!(is_json(&with("application/problem+json")));
        assert!(!is_json(&with("text/plain; charset=utf-8")));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn request_ids_are_uuid_shaped_and_carry_prefix_and_count() {
        let text = request_id_text(0x0123_4567_89ab_cdef, 0x2a);
        assert_eq!(&text, b"01234567-89ab-8def-8000-00000000002a");
        let first = next_request_id();
        let second = next_request_id();
        assert_ne!(first, second);
        assert_eq!(first[..18], second[..18], "one prefix per process");
    }

    #[test]
    fn request_id_prefixes_differ_between_draws() {
        assert_ne!(random_prefix(), random_prefix());
    }

    #[test]
    fn problem_titles_read_as_words() {
        assert_eq!(
            problem_title(ErrorCode::PayloadTooLarge),
            "Payload too large"
        );
        assert_eq!(problem_title(ErrorCode::Unknown), "Unknown");
    }
}

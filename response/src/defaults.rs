//! The defaults a service installs once: fallbacks, body limit, panics, request ids, timeout,
//! and the conversion of every other error response into the model.

use std::any::Any;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::middleware::{map_request, map_response_with_state};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::ErrorMarker;
use crate::extract::code_for_status;
use crate::{ApiError, ErrorCode};

/// The request and response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

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
    /// - an `x-request-id` taken from the request (when it is at most 128 characters of
    ///   `A-Z a-z 0-9 - _ . : + / =`) or generated (a UUID), set on the response and
    ///   recorded in a `request` tracing span with the method and path (never the query,
    ///   which may carry secrets); each response is logged at `INFO` in that span.
    #[must_use]
    fn with_portcullis_defaults(self, defaults: ServiceDefaults) -> Self;
}

impl<S> RouterExt for Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn with_portcullis_defaults(self, defaults: ServiceDefaults) -> Self {
        // Each `layer` wraps the previous ones, so the last is the outermost.
        self.fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(defaults.body_limit))
            .layer(RequestBodyLimitLayer::new(defaults.body_limit))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                defaults.timeout,
            ))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(map_response_with_state(
                defaults.problem_json,
                finish_response,
            ))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                    // 5xx are already logged with their cause by `ApiError`.
                    .on_failure(()),
            )
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(map_request(drop_unsafe_request_id))
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
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

/// A client's request id ends up in logs and responses: keep only short, plain ones.
async fn drop_unsafe_request_id(mut request: Request) -> Request {
    let safe = |id: &HeaderValue| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID_LEN
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b))
    };
    if let Some(id) = request.headers().get(REQUEST_ID_HEADER)
        && !safe(id)
    {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
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
struct AcceptsProblem(bool);

impl<S: Send + Sync> FromRequestParts<S> for AcceptsProblem {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(accepts_problem_json(&parts.headers)))
    }
}

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
async fn finish_response<B>(
    State(problem_json): State<bool>,
    AcceptsProblem(wants_problem): AcceptsProblem,
    response: Response<B>,
) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = into_model(response.map(Body::new));
    if problem_json && wants_problem {
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
    fn problem_titles_read_as_words() {
        assert_eq!(
            problem_title(ErrorCode::PayloadTooLarge),
            "Payload too large"
        );
        assert_eq!(problem_title(ErrorCode::Unknown), "Unknown");
    }
}

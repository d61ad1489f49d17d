//! [`RouterExt`], which installs the whole stack of the defaults on a router.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use tower::ServiceBuilder;
use tower::layer::layer_fn;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::TraceContext;
use crate::finish::FinishResponse;
use crate::limit::BodyLimit;
use crate::request_id::{REQUEST_ID, SetRequestId};
use crate::timeout::RequestTimeout;
use crate::trace_context::{TraceIdText, TraceScope};

use super::ServiceDefaults;
use super::fallback::{method_not_allowed, not_found, panic_response};

#[cfg(doc)]
use crate::ErrorCode;

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
    ///   secrets); each response is logged at `INFO` in that span;
    /// - each request run in the scope of its W3C trace: the valid incoming `traceparent`
    ///   and `tracestate`, else a new trace (a malformed header is ignored), its id
    ///   recorded in that span as `trace_id`, and continued on outgoing calls by
    ///   [`TraceContext::inject_current`](crate::TraceContext::inject_current);
    /// - with the `metrics` feature, requests counted and timed by route template, method
    ///   and status class (`http_metrics`).
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
            .layer(layer_fn(TraceScope::new))
            .layer(layer_fn(SetRequestId::new))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                    // 5xx are already logged with their cause by `ApiError`.
                    .on_failure(()),
            );
        // Outside the rewriting of error bodies, so that the final status is counted.
        #[cfg(feature = "metrics")]
        let layers = layers.layer(layer_fn(crate::http_metrics::HttpMetrics::new));
        let layers = layers
            .layer(layer_fn(move |inner| {
                FinishResponse::new(inner, problem_json)
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
        trace_id = TraceContext::current().map(TraceIdText).map(tracing::field::display),
    )
}

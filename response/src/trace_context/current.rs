//! The trace of the request being served, for the calls made on its behalf.
//!
//! The defaults ([`RouterExt`](crate::RouterExt)) run each request's handler in a scope
//! holding its trace: the incoming `traceparent` and `tracestate` when valid, else a new
//! trace that starts here. A client that calls other services adds
//! [`TraceContext::inject_current`] to each outgoing request (the balanced client's
//! `outgoing_headers` hook takes it as is), so the trace id follows the request without
//! being passed through every function. A program that is not a server (a batch job, the
//! recommendation client) opens the scope itself with [`TraceContext::scope`].
//!
//! The scope is a tokio task-local: a task spawned by the handler does not inherit it.

use std::future::Future;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request};
use tokio::task::futures::TaskLocalFuture;
use tower::Service;

use super::{TRACEPARENT, TRACESTATE, TraceContext};

/// Section 3.3.1.1: a `tracestate` may be combined from several headers and vendors
/// should pass on at least 512 characters; a longer one is dropped whole here rather than
/// cut inside an entry.
const MAX_TRACESTATE_LEN: usize = 512;

/// The trace of the work in progress.
#[derive(Clone, Debug)]
pub(crate) struct CurrentTrace {
    pub(crate) context: TraceContext,
    /// The incoming `tracestate`, passed on unchanged (section 3.3.1).
    state: Option<HeaderValue>,
}

impl CurrentTrace {
    /// The trace of a request with `headers`: its valid `traceparent` (and `tracestate`),
    /// or a new trace. A `tracestate` without a valid `traceparent` is ignored (section
    /// 3.3.1.1).
    pub(crate) fn of_request(headers: &HeaderMap) -> Self {
        match TraceContext::from_headers(headers) {
            Some(context) => Self {
                context,
                state: combined_tracestate(headers),
            },
            None => Self {
                context: TraceContext::new_root(),
                state: None,
            },
        }
    }

    /// Runs `future` with `self` as the current trace.
    pub(crate) fn scope<F: Future>(self, future: F) -> TaskLocalFuture<Self, F> {
        CURRENT.scope(self, future)
    }
}

/// The service that runs each request in the scope of its trace (the outermost layer of
/// the defaults, so that the request's span can record the trace id).
#[derive(Clone, Debug)]
pub(crate) struct TraceScope<S> {
    inner: S,
}

impl<S> TraceScope<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B> Service<Request<B>> for TraceScope<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<CurrentTrace, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let current = CurrentTrace::of_request(request.headers());
        // The inner layers' synchronous work (the span is made there) and the handler's
        // future both see the trace.
        let future = CURRENT.sync_scope(current.clone(), || self.inner.call(request));
        CURRENT.scope(current, future)
    }
}

tokio::task_local! {
    static CURRENT: CurrentTrace;
}

impl TraceContext {
    /// The trace of the request being served (or of the enclosing
    /// [`scope`](Self::scope)), if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|current| current.context).ok()
    }

    /// Runs `future` with `self` as the current trace, so that
    /// [`inject_current`](Self::inject_current) continues it. For work that does not come
    /// from a request: one scope per unit of work (a round, a job).
    ///
    /// ```
    /// use portcullis_response::TraceContext;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let root = TraceContext::new_root();
    /// let seen = root.scope(async { TraceContext::current() }).await;
    /// assert_eq!(seen, Some(root));
    /// # }
    /// ```
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CurrentTrace {
            context: self,
            state: None,
        }
        .scope(future)
        .await
    }

    /// Sets `traceparent` on an outgoing request's `headers` to a child of the current
    /// trace (a fresh span id for this hop, section 3.2), and `tracestate` as it came in,
    /// replacing any there. Outside a scope it starts a new trace, so that every call
    /// carries one.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use portcullis_response::TraceContext;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let root = TraceContext::new_root();
    /// let mut headers = HeaderMap::new();
    /// root.scope(async { TraceContext::inject_current(&mut headers) }).await;
    /// let sent = TraceContext::from_headers(&headers).unwrap();
    /// assert_eq!(sent.trace_id(), root.trace_id());
    /// assert_ne!(sent.parent_id(), root.parent_id());
    /// # }
    /// ```
    pub fn inject_current(headers: &mut HeaderMap) {
        let (context, state) = CURRENT
            .try_with(|current| (current.context.child(), current.state.clone()))
            .unwrap_or_else(|_| (Self::new_root(), None));
        headers.insert(TRACEPARENT, context.traceparent());
        match state {
            Some(state) => {
                headers.insert(TRACESTATE, state);
            }
            None => {
                headers.remove(TRACESTATE);
            }
        }
    }
}

/// The `tracestate` headers joined with commas (section 3.3.1.1), unless too long.
fn combined_tracestate(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(TRACESTATE).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return (first.len() <= MAX_TRACESTATE_LEN).then(|| first.clone());
    };
    let mut joined = Vec::with_capacity(MAX_TRACESTATE_LEN);
    for value in [first, second].into_iter().chain(values) {
        if !joined.is_empty() {
            joined.push(b',');
        }
        joined.extend_from_slice(value.as_bytes());
        if joined.len() > MAX_TRACESTATE_LEN {
            return None;
        }
    }
    HeaderValue::from_bytes(&joined).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[tokio::test]
    async fn a_request_continues_its_trace_and_state() {
        let mut incoming = HeaderMap::new();
        incoming.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        incoming.append(TRACESTATE, HeaderValue::from_static("congo=t61rcWkgMzE"));
        incoming.append(
            TRACESTATE,
            HeaderValue::from_static("rojo=00f067aa0ba902b7"),
        );
        let mut outgoing = HeaderMap::new();
        outgoing.insert(TRACESTATE, HeaderValue::from_static("stale=1"));
        CurrentTrace::of_request(&incoming)
            .scope(async { TraceContext::inject_current(&mut outgoing) })
            .await;
        let sent = TraceContext::from_headers(&outgoing).unwrap();
        assert_eq!(sent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(sent.parent_id(), "00f067aa0ba902b7");
        assert_eq!(
            outgoing[TRACESTATE],
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        );
    }

    #[tokio::test]
    async fn a_request_without_a_valid_trace_starts_one_and_drops_its_state() {
        let mut incoming = HeaderMap::new();
        incoming.insert(TRACEPARENT, HeaderValue::from_static("00-bad"));
        incoming.insert(TRACESTATE, HeaderValue::from_static("congo=t61rcWkgMzE"));
        let current = CurrentTrace::of_request(&incoming);
        let mut first = HeaderMap::new();
        let mut second = HeaderMap::new();
        current
            .scope(async {
                TraceContext::inject_current(&mut first);
                TraceContext::inject_current(&mut second);
            })
            .await;
        let (first, second) = (
            TraceContext::from_headers(&first).unwrap(),
            TraceContext::from_headers(&second).unwrap(),
        );
        assert_eq!(first.trace_id(), second.trace_id(), "one trace per request");
        assert_ne!(first.parent_id(), second.parent_id(), "one span per call");
        assert!(!first.trace_id().starts_with("4bf92f35"));
    }

    #[test]
    fn outside_a_scope_each_call_starts_a_trace() {
        assert_eq!(TraceContext::current(), None);
        let mut headers = HeaderMap::new();
        TraceContext::inject_current(&mut headers);
        assert!(TraceContext::from_headers(&headers).is_some());
        assert!(!headers.contains_key(TRACESTATE));
    }

    #[test]
    fn an_overlong_tracestate_is_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        let long = format!("a={}", "x".repeat(MAX_TRACESTATE_LEN));
        headers.insert(TRACESTATE, HeaderValue::from_str(&long).unwrap());
        assert!(CurrentTrace::of_request(&headers).state.is_none());
        headers.insert(TRACESTATE, HeaderValue::from_static("a=1"));
        assert_eq!(
            CurrentTrace::of_request(&headers).state.unwrap(),
            HeaderValue::from_static("a=1")
        );
    }
}

//! Span and trace ids: a span that starts a trace inside a request takes the request's
//! trace id, so a request with no incoming `traceparent` is exported under the same trace
//! id its log lines (`trace_id`) and its outgoing calls carry.

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use portcullis_response::TraceContext;

/// Random ids, except that a new trace started in the scope of a request's trace
/// ([`TraceContext::current`]) is that trace.
///
/// The SDK asks for a trace id only for a span without a valid parent: in a request, that
/// is the `request` span when the request came without a `traceparent` (a request with one
/// has the caller as its parent, see [`remote_parent`](super::remote_parent)).
#[derive(Debug, Default)]
pub(super) struct RequestTraceIds {
    random: RandomIdGenerator,
}

impl IdGenerator for RequestTraceIds {
    fn new_trace_id(&self) -> TraceId {
        TraceContext::current()
            .and_then(|current| TraceId::from_hex(&current.trace_id()).ok())
            .unwrap_or_else(|| self.random.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.random.new_span_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_trace_in_a_request_scope_is_the_requests_trace() {
        let ids = RequestTraceIds::default();
        let root = TraceContext::new_root();
        let inside = root.scope(async { ids.new_trace_id() }).await;
        assert_eq!(format!("{inside:032x}"), root.trace_id());
        let outside = ids.new_trace_id();
        assert_ne!(outside, inside);
        assert_ne!(outside, TraceId::INVALID);
    }
}

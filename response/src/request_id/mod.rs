//! The `x-request-id` of the defaults: taken from the request when it is short and plain,
//! generated otherwise, and set on the response.
//!
//! One service in place of tower-http's `SetRequestId` and `PropagateRequestId`, measured
//! side by side at 5-10% of a small handler's throughput together: they store the id in the
//! request's extensions too (an allocation per request for a map no handler here reads)
//! and clone it through `Bytes` more than once. Handlers and the trace span read the id
//! from the request's header.

mod future;
mod generate;
mod service;

use http::HeaderName;

pub(crate) use service::SetRequestId;

/// The request and response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// [`REQUEST_ID_HEADER`] as a header name: looking a `&str` up parses it on every call.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

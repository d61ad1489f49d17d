//! The last word on every error response of the defaults: any 4xx or 5xx that is neither an
//! [`ApiError`](crate::ApiError) nor JSON is rewritten into the model, a 413 closes the
//! connection, and the client gets RFC 9457 problem+json when it asks for it.

mod future;
mod model;
mod problem;
mod service;

use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

pub(crate) use service::FinishResponse;

/// The error `response` in the model, as the client asked for it.
fn finish_response(response: Response, wants_problem: bool) -> Response {
    let status = response.status();
    let mut response = model::into_model(response);
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the oversized body may still be on its way: the connection cannot
        // carry another request (hyper closes it after this response).
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if wants_problem {
        problem::into_problem(response)
    } else {
        response
    }
}

//! The answers the defaults give on their own: unknown routes, wrong methods, panics.

use std::any::Any;

use axum::response::{IntoResponse, Response};

use crate::{ApiError, ErrorCode};

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

/// A caught panic as 500 [`Internal`](ErrorCode::Internal); its message goes to the log only.
#[expect(
    clippy::needless_pass_by_value,
    reason = "the signature `CatchPanicLayer::custom` asks for"
)]
pub(super) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

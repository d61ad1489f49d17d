//! Error responses that are neither an [`ApiError`] nor JSON, rewritten as `{code, message}`.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};

use crate::error::ErrorMarker;
use crate::extract::code_for_status;
use crate::{ApiError, ErrorCode};

/// Rewrites an error response that is neither an [`ApiError`] nor JSON as `{code, message}`,
/// keeping its status and headers.
pub(super) fn into_model(response: Response) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
}

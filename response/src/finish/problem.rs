//! RFC 9457 `application/problem+json`: whether the client asks for it, and the body.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;

use crate::ErrorCode;
use crate::error::ErrorMarker;

const PROBLEM_JSON: &str = "application/problem+json";

/// Whether the request's `Accept` names `application/problem+json` (with a non-zero `q`).
pub(super) fn accepts_problem_json(headers: &HeaderMap) -> bool {
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

/// An error response of the model as problem+json; any other response as it is.
pub(super) fn into_problem(response: Response) -> Response {
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
    fn problem_titles_read_as_words() {
        assert_eq!(
            problem_title(ErrorCode::PayloadTooLarge),
            "Payload too large"
        );
        assert_eq!(problem_title(ErrorCode::Unknown), "Unknown");
    }
}

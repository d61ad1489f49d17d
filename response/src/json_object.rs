//! [`JsonObject`]: a JSON body that must be an object.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::extract::{from_rejection, wrapper};
use crate::{ApiError, ErrorCode};

wrapper! {
    /// A JSON body that must be a JSON object, rejecting with an [`ApiError`].
    ///
    /// serde's derived `Deserialize` fills a struct from a JSON array as readily as from an
    /// object (`["ann", "pw"]` for `{ name, password }`), so an API that documents an
    /// object would quietly accept an array with [`Json`](crate::Json). This extractor
    /// refuses anything but an object with 422
    /// [`ValidationFailed`](ErrorCode::ValidationFailed); every other rejection is that of
    /// [`Json`](crate::Json): 400 for a syntax error, 422 for a wrong field, 415 without a
    /// JSON `Content-Type`, 413 over the body limit.
    ///
    /// ```
    /// use portcullis_response::{ApiResult, JsonObject, Message};
    /// # #[derive(serde::Deserialize)] struct NewMovie { name: String }
    ///
    /// async fn add(JsonObject(movie): JsonObject<NewMovie>) -> ApiResult<Message> {
    ///     Ok(Message::new(format!("added {}", movie.name)))
    /// }
    /// # let _ = axum::Router::<()>::new().route("/", axum::routing::post(add));
    /// ```
    JsonObject
}

impl<T, S> FromRequest<S> for JsonObject<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            let (status, text) = (rejection.status(), rejection.body_text());
            from_rejection(rejection, status, &text, ErrorCode::MalformedBody)
        })?;
        if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            // A syntax error stays a 400, as with `Json`; valid JSON of another kind is 422.
            let _syntax_checked = axum::Json::<IgnoredAny>::from_bytes(&body)?;
            return Err(
                ApiError::new(ErrorCode::ValidationFailed, "Expected a JSON object")
                    .with_status(StatusCode::UNPROCESSABLE_ENTITY),
            );
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&body)?;
        Ok(Self(value))
    }
}

/// `application/json`, or any `application/*+json`, as axum's `Json` accepts.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;

    #[derive(Deserialize)]
    struct Login {
        user: String,
        #[allow(dead_code)]
        password: String,
    }

    async fn status_of(content_type: &str, body: &'static str) -> StatusCode {
        let app = Router::new().route(
            "/",
            post(|JsonObject(login): JsonObject<Login>| async move { login.user }),
        );
        let request = http::Request::post("/")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn an_object_is_accepted() {
        let body = r#" {"user":"ann","password":"pw"}"#;
        assert_eq!(status_of("application/json", body).await, StatusCode::OK);
        assert_eq!(
            status_of("application/merge-patch+json", body).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn an_array_that_serde_would_take_is_refused_with_422() {
        let body = r#"["ann","pw"]"#;
        assert_eq!(
            status_of("application/json", body).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status_of("application/json", "null").await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[tokio::test]
    async fn a_syntax_error_is_400_and_a_wrong_type_415() {
        assert_eq!(
            status_of("application/json", "[nope").await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of("application/json", "{nope").await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of("text/plain", "{}").await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[tokio::test]
    async fn a_missing_field_is_422() {
        let body = r#"{"user":"ann"}"#;
        assert_eq!(
            status_of("application/json", body).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}

//! [`FormOrMultipart`], a form body in either of the encodings HTML forms and `curl` send.

use std::error::Error as StdError;

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request};
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::LengthLimitError;
use serde::de::DeserializeOwned;

use crate::extract::{capped, from_rejection, wrapper};
use crate::{ApiError, ErrorCode, Form};

/// The message of the 415 answer to any other `Content-Type`.
const UNSUPPORTED: &str =
    "Send Content-Type application/x-www-form-urlencoded or multipart/form-data";

wrapper! {
    /// A form body sent either as `application/x-www-form-urlencoded` or as
    /// `multipart/form-data` (as `curl -F` and HTML forms with `enctype="multipart/form-data"`
    /// send it), read into `T` alike. Available with the `multipart` feature.
    ///
    /// This is how the original go-microservices project read its login form: both
    /// encodings, text fields only.
    ///
    /// - A urlencoded body, and for `GET` and `HEAD` the query, is read exactly as by
    ///   [`Form`], with the same rejections.
    /// - A multipart body's text fields are read in order and deserialized into `T` the way a
    ///   urlencoded body with the same fields in the same order is: a field given twice, a
    ///   missing field or a value of the wrong type gives the same 422
    ///   [`ValidationFailed`](ErrorCode::ValidationFailed) as it does there. Parts without a
    ///   name are skipped, as Go's `ParseMultipartForm` skips them.
    /// - A file part (one whose `Content-Disposition` has a `filename`) is 422
    ///   [`ValidationFailed`](ErrorCode::ValidationFailed); a field that is not UTF-8, a
    ///   missing boundary or a broken multipart body is 400
    ///   [`MalformedBody`](ErrorCode::MalformedBody).
    /// - The whole body counts against the body limit (the service's
    ///   [`body_limit`](crate::ServiceDefaults::body_limit), or axum's
    ///   [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit)): over it is 413
    ///   [`PayloadTooLarge`](ErrorCode::PayloadTooLarge).
    /// - Any other `Content-Type` is 415
    ///   [`UnsupportedMediaType`](ErrorCode::UnsupportedMediaType).
    ///
    /// ```
    /// use portcullis_response::{FormOrMultipart, Message};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Login { user: String, password: String }
    ///
    /// async fn login(FormOrMultipart(login): FormOrMultipart<Login>) -> Message {
    ///     Message::new(format!("hello, {}", login.user))
    /// }
    /// # let _ = axum::Router::<()>::new().route("/login", axum::routing::post(login));
    /// ```
    FormOrMultipart
}

impl<T, S> FromRequest<S> for FormOrMultipart<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let reads_query = req.method() == Method::GET || req.method() == Method::HEAD;
        if !reads_query && is_multipart_form(req.headers()) {
            let multipart = Multipart::from_request(req, state).await.map_err(|e| {
                let (status, text) = (e.status(), e.body_text());
                from_rejection(e, status, &text, ErrorCode::MalformedBody)
            })?;
            return read_multipart(multipart).await.map(Self);
        }
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(error) if error.code() == ErrorCode::UnsupportedMediaType => {
                Err(ApiError::new(ErrorCode::UnsupportedMediaType, UNSUPPORTED).with_source(error))
            }
            Err(error) => Err(error),
        }
    }
}

/// Whether the `Content-Type` is `multipart/form-data` (in any letter case).
fn is_multipart_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// The text fields of `multipart`, deserialized into `T` as a urlencoded body would be.
async fn read_multipart<T: DeserializeOwned>(mut multipart: Multipart) -> Result<T, ApiError> {
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let value = text(field, &name).await?;
        fields.push((name, value));
    }
    // The fields are encoded again as a urlencoded body, so that axum's own form
    // deserializer reads them: both encodings then accept and refuse the same forms.
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(form.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        // The text of axum's `FailedToDeserializeFormBody`.
        let text = format!("Failed to deserialize form body: {error}");
        from_rejection(
            error,
            StatusCode::UNPROCESSABLE_ENTITY,
            &text,
            ErrorCode::MalformedBody,
        )
    })
}

/// The value of a text field named `name`.
async fn text(field: Field<'_>, name: &str) -> Result<String, ApiError> {
    if field.file_name().is_some() {
        return Err(ApiError::validation(capped(&format!(
            "Field `{name}` is a file; only text fields are accepted"
        )))
        .with_status(StatusCode::UNPROCESSABLE_ENTITY));
    }
    let bytes = field.bytes().await.map_err(multipart_error)?;
    String::from_utf8(bytes.into()).map_err(|error| {
        ApiError::malformed_body(capped(&format!("Field `{name}` is not UTF-8 text")))
            .with_source(error)
    })
}

/// A multipart body that cannot be read: 413 when it is over the body limit, 400 otherwise
/// (a broken body, or one the client stopped sending, is the client's to fix).
fn multipart_error(error: MultipartError) -> ApiError {
    let status = if error.status() == StatusCode::PAYLOAD_TOO_LARGE || over_limit(&error) {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    };
    let text = error.body_text();
    from_rejection(error, status, &text, ErrorCode::MalformedBody)
}

/// Whether a body limit anywhere in `error`'s source chain stopped the read: axum looks
/// one level deep only, and a body limited by both the defaults and axum nests two.
fn over_limit(error: &(dyn StdError + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn multipart_form_data_is_recognised_in_any_case_and_with_parameters() {
        let with = |value: &'static str| {
            HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static(value))])
        };
        assert!(is_multipart_form(&with("multipart/form-data; boundary=x")));
        assert!(is_multipart_form(&with("Multipart/Form-Data;boundary=x")));
        assert!(!is_multipart_form(&with("multipart/mixed; boundary=x")));
        assert!(!is_multipart_form(&with(
            "application/x-www-form-urlencoded"
        )));
        assert!(!is_multipart_form(&HeaderMap::new()));
    }
}

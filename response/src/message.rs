//! [`Message`], the reply to a successful write that returns no data.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// `{"message": "..."}` with status 200: the reply to a write that returns no data, as the
/// original go-microservices project sends it.
///
/// ```
/// use portcullis_response::Message;
///
/// let reply = Message::new("Successfully");
/// assert_eq!(serde_json::to_string(&reply).unwrap(), r#"{"message":"Successfully"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// The text.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Successfully"))]
    pub message: Cow<'static, str>,
}

impl Message {
    /// A message with `text`.
    pub fn new(text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: text.into(),
        }
    }

    /// `{"message":"Successfully"}`, the usual reply to a successful write.
    pub fn success() -> Self {
        Self::new("Successfully")
    }
}

impl IntoResponse for Message {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

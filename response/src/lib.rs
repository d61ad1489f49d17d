//! The Portcullis error/response model for axum services.
//!
//! Success is HTTP 200 with the data itself (an object or an array, no envelope). Failure
//! is a non-200 status with `{"code": <int>, "message": "<text>"}`, where `code` comes from
//! the stable [`ErrorCode`] table. This crate makes every failure take that shape:
//! handler errors ([`ApiError`]), extractor rejections ([`Json`], [`Form`], [`Path`],
//! [`Query`]), unknown routes and methods, oversized bodies and panics.
//!
//! ```
//! use axum::{Router, routing::post};
//! use portcullis_response::{ApiError, Json, Message};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct NewMovie { name: String }
//!
//! async fn add_movie(Json(movie): Json<NewMovie>) -> Result<Message, ApiError> {
//!     if movie.name.trim().is_empty() {
//!         return Err(ApiError::validation("Movie name is empty"));
//!     }
//!     Ok(Message::success())
//! }
//!
//! let app: Router = Router::new().route("/movies", post(add_movie));
//! ```

mod code;
mod error;
mod message;

pub use code::ErrorCode;
pub use error::{ApiError, ErrorBody};
pub use message::Message;

/// A `Result` whose error is [`ApiError`]: the return type of Portcullis handlers.
pub type ApiResult<T> = Result<T, ApiError>;

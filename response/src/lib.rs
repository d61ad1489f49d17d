//! The Portcullis error/response model for axum services.
//!
//! Success is HTTP 200 with the data itself (an object or an array, no envelope). Failure
//! is a non-200 status with `{"code": <int>, "message": "<text>"}`, where `code` comes from
//! the stable [`ErrorCode`] table (also in `docs/error-codes.md`). This crate makes every
//! failure take that shape:
//!
//! - handler errors: return [`ApiError`] (or [`ApiResult<T>`]); its source error is logged,
//!   never sent;
//! - bad input: the [`Json`], [`Form`], [`Path`] and [`Query`] extractors wrap axum's and
//!   reject with an [`ApiError`] (400, 413, 415 or 422, see each type); with the `multipart`
//!   feature, `FormOrMultipart` reads a form sent urlencoded or as `multipart/form-data`;
//! - everything else: [`RouterExt::with_portcullis_defaults`] adds the 404 and 405
//!   fallbacks, a body limit (413, closing the connection), a timeout (504), panic catching
//!   (500 without details),
//!   `x-request-id` handling and logging, RFC 9457 `application/problem+json` on request, and
//!   rewrites any other non-JSON error response (say a plain-text 4xx from a layer or from
//!   axum's own extractors) into the model;
//! - writes that return no data answer with [`Message`] (`{"message": "Successfully"}`).
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use portcullis_response::{ApiError, ApiResult, Json, Message, Path, RouterExt, ServiceDefaults};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Movie { name: String }
//!
//! async fn add_movie(Json(movie): Json<Movie>) -> ApiResult<Message> {
//!     if movie.name.trim().is_empty() {
//!         return Err(ApiError::validation("Movie name is empty"));
//!     }
//!     Ok(Message::success())
//! }
//!
//! async fn movie(Path(id): Path<u32>) -> ApiResult<Json<Movie>> {
//!     match id {
//!         1 => Ok(Json(Movie { name: "Metropolis".into() })),
//!         _ => Err(ApiError::not_found("Movie not found")),
//!     }
//! }
//!
//! fn app() -> Router {
//!     Router::new()
//!         .route("/movies", post(add_movie))
//!         .route("/movies/{id}", get(movie))
//!         // Last, so that it covers every route above.
//!         .with_portcullis_defaults(ServiceDefaults::new())
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # use tower::ServiceExt;
//! # use http_body_util::BodyExt;
//! # let request = http::Request::get("/movies/abc").body(axum::body::Body::empty()).unwrap();
//! # let response = app().oneshot(request).await.unwrap();
//! # assert_eq!(response.status(), 400);
//! # assert!(response.headers().contains_key("x-request-id"));
//! # let body = response.into_body().collect().await.unwrap().to_bytes();
//! # let body: portcullis_response::ErrorBody = serde_json::from_slice(&body).unwrap();
//! # assert_eq!(body.code, 1015);
//! # }
//! ```
//!
//! A request for `/movies/abc` gets `400 {"code":1015,"message":"Invalid URL: ..."}`, an
//! unknown route `404 {"code":1008,...}`, a `DELETE /movies` `405 {"code":1013,...}` with
//! `Allow: POST`, and every response an `x-request-id`.
//!
//! # Status choices
//!
//! A body that is not valid JSON is 400 [`MalformedBody`](ErrorCode::MalformedBody); one that
//! parses but does not fit the target type (a wrong type, a missing field) is 422
//! [`ValidationFailed`](ErrorCode::ValidationFailed), as in axum, and so is a form body that
//! does not fit. [`ApiError::validation`] itself, for the checks a handler makes, keeps the
//! code's default 400 (the status the original go-microservices project sends for an
//! empty name). Clients should branch on
//! `code`, not on the status.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `openapi` | off | `utoipa::ToSchema` for [`ErrorBody`] and [`Message`], so a service's
//! `OpenAPI` document can name the error model (`body = ErrorBody`) and the write reply |
//! | `multipart` | off | `FormOrMultipart`, a form extractor that takes `multipart/form-data` as well as urlencoded bodies (text fields only), through axum's `multipart` feature |
//!
//! It uses `tower-http` with `catch-panic` and `trace`; its own request timeout
//! runs on tokio's timer (the `time` feature).

mod code;
mod defaults;
mod error;
mod extract;
mod finish;
#[cfg(feature = "multipart")]
mod form_or_multipart;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod http_metrics;
mod json_object;
mod limit;
mod message;
mod request_id;
mod timeout;
pub mod trace_context;

pub use code::ErrorCode;
pub use defaults::{RouterExt, ServiceDefaults, method_not_allowed, not_found};
pub use error::{ApiError, ErrorBody};
pub use extract::{Form, Json, Path, Query};
#[cfg(feature = "multipart")]
pub use form_or_multipart::FormOrMultipart;
pub use json_object::JsonObject;
pub use message::Message;
pub use request_id::REQUEST_ID_HEADER;
pub use trace_context::TraceContext;

/// A `Result` whose error is [`ApiError`]: the return type of Portcullis handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The code in the crate's README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

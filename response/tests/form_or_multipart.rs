//! `FormOrMultipart` through a real axum router: both encodings of a login form, and every
//! way a multipart body can be refused.
#![cfg(feature = "multipart")]

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use portcullis_response::{
    ErrorBody, ErrorCode, FormOrMultipart, Message, RouterExt, ServiceDefaults,
};
use serde::Deserialize;
use tower::ServiceExt;

#[derive(Debug, Deserialize)]
struct Login {
    user: String,
    password: String,
}

#[derive(Debug, Deserialize)]
struct Movie {
    name: String,
    year: u16,
}

async fn login(FormOrMultipart(login): FormOrMultipart<Login>) -> Message {
    Message::new(format!("{}:{}", login.user, login.password.len()))
}

async fn movie(FormOrMultipart(movie): FormOrMultipart<Movie>) -> Message {
    Message::new(format!("{} ({})", movie.name, movie.year))
}

fn routes() -> Router {
    Router::new()
        .route("/login", post(login).get(login))
        .route("/movies", post(movie))
}

fn app() -> Router {
    routes().with_portcullis_defaults(ServiceDefaults::new().body_limit(1024))
}

const BOUNDARY: &str = "portcullis-test-boundary";

/// A part: its name, its file name if it is a file, its content.
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body built by hand, as RFC 7578 spells it.
fn multipart_body(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match file_name {
            Some(file) => format!("form-data; name=\"{name}\"; filename=\"{file}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(format!("Content-Disposition: {disposition}\r\n").as_bytes());
        if file_name.is_some() {
            body.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn multipart(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body.into())
        .unwrap()
}

fn urlencoded(uri: &str, body: &'static str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

/// `body` sent in two chunks with no `Content-Length`, as a streaming client sends it.
fn chunked(body: &[u8]) -> Body {
    let (first, second) = body.split_at(body.len() / 2);
    let chunks = [
        Bytes::copy_from_slice(first),
        Bytes::copy_from_slice(second),
    ];
    Body::from_stream(futures_util::stream::iter(chunks.map(Ok::<_, Infallible>)))
}

async fn send_to(app: Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

async fn ok_message(request: Request<Body>) -> String {
    let (status, body) = send_to(app(), request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Message>(&body)
        .unwrap()
        .message
        .into_owned()
}

async fn error_from(
    app: Router,
    request: Request<Body>,
    status: StatusCode,
    code: ErrorCode,
) -> String {
    let (got, body) = send_to(app, request).await;
    assert_eq!(got, status, "{}", String::from_utf8_lossy(&body));
    let body: ErrorBody = serde_json::from_slice(&body).expect("an ErrorBody");
    assert_eq!(body.code, code.as_i32(), "{}", body.message);
    body.message
}

async fn error(request: Request<Body>, status: StatusCode, code: ErrorCode) -> String {
    error_from(app(), request, status, code).await
}

#[tokio::test]
async fn a_urlencoded_login_is_read() {
    assert_eq!(
        ok_message(urlencoded("/login", "user=admin&password=admin")).await,
        "admin:5"
    );
}

#[tokio::test]
async fn a_login_in_the_query_of_a_get_is_read_as_by_form() {
    let request = Request::get("/login?user=admin&password=pw")
        .body(Body::empty())
        .unwrap();
    assert_eq!(ok_message(request).await, "admin:2");
}

#[tokio::test]
async fn a_multipart_login_is_read_like_curl_dash_f_sends_it() {
    let body = multipart_body(&[("user", None, b"admin"), ("password", None, b"p&ss=w rd")]);
    assert_eq!(ok_message(multipart("/login", body)).await, "admin:9");
}

#[tokio::test]
async fn multipart_values_are_typed_as_in_a_urlencoded_body() {
    let body = multipart_body(&[
        ("name", None, "Métropolis".as_bytes()),
        ("year", None, b"1927"),
    ]);
    assert_eq!(
        ok_message(multipart("/movies", body)).await,
        "Métropolis (1927)"
    );
}

#[tokio::test]
async fn a_chunked_multipart_body_within_the_limit_is_read() {
    let body = multipart_body(&[("user", None, b"admin"), ("password", None, b"admin")]);
    assert_eq!(
        ok_message(multipart("/login", chunked(&body))).await,
        "admin:5"
    );
}

#[tokio::test]
async fn a_multipart_part_without_a_name_is_skipped() {
    let mut body =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nstray\r\n").into_bytes();
    body.extend(multipart_body(&[
        ("user", None, b"admin"),
        ("password", None, b"admin"),
    ]));
    assert_eq!(ok_message(multipart("/login", body)).await, "admin:5");
}

#[tokio::test]
async fn a_file_part_is_422_validation_failed() {
    let body = multipart_body(&[
        ("user", None, b"admin"),
        ("password", Some("password.txt"), b"admin"),
    ]);
    let message = error(
        multipart("/login", body),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(message.contains("`password` is a file"), "{message}");
}

#[tokio::test]
async fn a_field_that_is_not_utf8_is_400_malformed_body_without_its_value() {
    let body = multipart_body(&[("user", None, b"admin"), ("password", None, b"secr\xffet")]);
    let message = error(
        multipart("/login", body),
        StatusCode::BAD_REQUEST,
        ErrorCode::MalformedBody,
    )
    .await;
    assert!(message.contains("`password` is not UTF-8"), "{message}");
    assert!(!message.contains("secr"), "{message}");
}

#[tokio::test]
async fn a_multipart_body_cut_short_is_400_malformed_body() {
    let mut body = multipart_body(&[("user", None, b"admin"), ("password", None, b"admin")]);
    body.truncate(body.len() - 10);
    error(
        multipart("/login", body),
        StatusCode::BAD_REQUEST,
        ErrorCode::MalformedBody,
    )
    .await;
}

#[tokio::test]
async fn multipart_without_a_boundary_is_400_malformed_body() {
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "multipart/form-data")
        .body(Body::from("user=admin"))
        .unwrap();
    error(request, StatusCode::BAD_REQUEST, ErrorCode::MalformedBody).await;
}

#[tokio::test]
async fn other_content_types_are_415_naming_both_accepted_ones() {
    for content_type in [
        "application/json",
        "text/plain",
        "multipart/mixed; boundary=x",
    ] {
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(r#"{"user":"admin","password":"admin"}"#))
            .unwrap();
        let message = error(
            request,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
        )
        .await;
        assert!(
            message.contains("multipart/form-data"),
            "{content_type}: {message}"
        );
    }
    let without = Request::post("/login")
        .body(Body::from("user=admin"))
        .unwrap();
    error(
        without,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
    )
    .await;
}

fn oversized_multipart() -> Vec<u8> {
    multipart_body(&[("user", None, b"admin"), ("password", None, &[b'x'; 2048])])
}

#[tokio::test]
async fn an_oversized_multipart_body_is_413_by_its_content_length() {
    error(
        multipart("/login", oversized_multipart()),
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
    )
    .await;
}

#[tokio::test]
async fn an_oversized_multipart_body_is_413_while_streaming() {
    error(
        multipart("/login", chunked(&oversized_multipart())),
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
    )
    .await;
}

#[tokio::test]
async fn axums_default_body_limit_caps_multipart_without_the_defaults() {
    let app = routes().layer(DefaultBodyLimit::max(1024));
    error_from(
        app,
        multipart("/login", chunked(&oversized_multipart())),
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
    )
    .await;
}

/// Both encodings of the same fields get the same status, code and message.
async fn same_refusal(fields: &'static str, parts: &[Part<'_>], code: ErrorCode) -> String {
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let from_urlencoded = error(urlencoded("/movies", fields), status, code).await;
    let from_multipart = error(multipart("/movies", multipart_body(parts)), status, code).await;
    assert_eq!(from_urlencoded, from_multipart);
    from_urlencoded
}

#[tokio::test]
async fn a_duplicate_field_is_refused_alike_in_both_encodings() {
    let message = same_refusal(
        "name=Alien&name=Aliens&year=1979",
        &[
            ("name", None, b"Alien"),
            ("name", None, b"Aliens"),
            ("year", None, b"1979"),
        ],
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(message.contains("duplicate field `name`"), "{message}");
}

#[tokio::test]
async fn a_missing_field_is_refused_alike_in_both_encodings() {
    let message = same_refusal(
        "name=Alien",
        &[("name", None, b"Alien")],
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(message.contains("missing field `year`"), "{message}");
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_refused_alike_in_both_encodings() {
    let message = same_refusal(
        "name=Alien&year=soon",
        &[("name", None, b"Alien"), ("year", None, b"soon")],
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(message.contains("year"), "{message}");
}

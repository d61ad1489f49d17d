//! Every mapping of the response model, through a real axum router.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use portcullis_response::{
    ApiError, ApiResult, ErrorBody, ErrorCode, Form, Json, Message, Path, Query, RouterExt,
    ServiceDefaults,
};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Debug, Deserialize, Serialize)]
struct Movie {
    name: String,
    year: u16,
}

#[derive(Debug, Deserialize)]
struct Login {
    user: String,
    password: String,
}

#[derive(Debug, Deserialize)]
struct Page {
    limit: u32,
}

async fn add_movie(Json(movie): Json<Movie>) -> ApiResult<Json<Movie>> {
    Ok(Json(movie))
}

async fn login(Form(login): Form<Login>) -> Message {
    Message::new(format!("{}:{}", login.user, login.password.len()))
}

async fn movie(Path(id): Path<u32>) -> ApiResult<Message> {
    Err(ApiError::not_found(format!("Movie {id} not found")))
}

async fn list(Query(page): Query<Page>) -> Json<Vec<u32>> {
    Json((0..page.limit).collect())
}

async fn raw_axum_json(axum::Json(movie): axum::Json<Movie>) -> Message {
    Message::new(movie.name)
}

async fn panics() -> Message {
    panic!("secret-in-panic-message")
}

async fn slow() -> Message {
    tokio::time::sleep(Duration::from_secs(60)).await;
    Message::success()
}

async fn plain_teapot() -> (StatusCode, &'static str) {
    (StatusCode::UNAUTHORIZED, "go away, with details")
}

async fn own_json_error() -> Response<Body> {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"custom":true}"#))
        .unwrap()
}

fn app() -> Router {
    Router::new()
        .route("/movies", post(add_movie).get(list))
        .route("/movies/{id}", get(movie))
        .route("/login", post(login).get(login))
        .route("/raw", post(raw_axum_json))
        .route("/panic", get(panics))
        .route("/slow", get(slow))
        .route("/plain", get(plain_teapot))
        .route("/own-json", get(own_json_error))
        .with_portcullis_defaults(ServiceDefaults::new().body_limit(1024))
}

async fn send(request: Request<Body>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let response = app().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, body)
}

/// Sends `request` and checks that the answer is `status` with a `{code, message}` body.
async fn expect_error(request: Request<Body>, status: StatusCode, code: ErrorCode) -> ErrorBody {
    let (got_status, headers, body) = send(request).await;
    assert_eq!(
        got_status,
        status,
        "body: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let body: ErrorBody = serde_json::from_slice(&body).expect("an ErrorBody");
    assert_eq!(body.code, code.as_i32(), "message: {}", body.message);
    assert!(!body.message.is_empty());
    body
}

fn json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn form(uri: &str, body: &'static str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn json_round_trips_with_200() {
    let (status, headers, body) =
        send(json("/movies", r#"{"name":"Metropolis","year":1927}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(body, br#"{"name":"Metropolis","year":1927}"#);
}

#[tokio::test]
async fn json_syntax_error_is_400_malformed_body() {
    let body = expect_error(
        json("/movies", "{not json"),
        StatusCode::BAD_REQUEST,
        ErrorCode::MalformedBody,
    )
    .await;
    assert!(body.message.contains("JSON"), "{}", body.message);
}

#[tokio::test]
async fn json_wrong_type_is_422_validation_failed_naming_the_field() {
    let body = expect_error(
        json("/movies", r#"{"name":"M","year":"old"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(body.message.contains("year"), "{}", body.message);
}

#[tokio::test]
async fn json_missing_field_is_422_validation_failed() {
    let body = expect_error(
        json("/movies", r#"{"name":"M"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(body.message.contains("year"), "{}", body.message);
}

#[tokio::test]
async fn json_error_messages_never_echo_huge_input() {
    // A wrong type whose value serde quotes in full; under the body limit.
    let huge = "x".repeat(900);
    let body = expect_error(
        json("/movies", format!(r#"{{"name":"M","year":"{huge}"}}"#)),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(
        body.message.chars().count() <= 200,
        "{}",
        body.message.len()
    );
    assert!(body.message.ends_with('…'));
}

#[tokio::test]
async fn json_without_content_type_is_415() {
    let request = Request::post("/movies")
        .body(Body::from(r#"{"name":"M","year":1}"#))
        .unwrap();
    expect_error(
        request,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
    )
    .await;
}

fn oversized_json() -> String {
    format!(r#"{{"name":"{}","year":1}}"#, "x".repeat(2000))
}

#[tokio::test]
async fn json_over_the_limit_is_413_by_content_length() {
    let big = oversized_json();
    let request = Request::post("/movies")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    expect_error(
        request,
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
    )
    .await;
}

#[tokio::test]
async fn json_over_the_limit_is_413_while_streaming() {
    // No Content-Length: the limit is hit while the extractor reads the body.
    expect_error(
        json("/movies", oversized_json()),
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
    )
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_answered_with_connection_close() {
    let big = oversized_json();
    let by_length = Request::post("/movies")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    for request in [
        by_length,
        json("/movies", oversized_json()),
        json("/raw", oversized_json()),
    ] {
        let (status, headers, _) = send(request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers[header::CONNECTION], "close");
    }
    let (status, headers, _) = send(get_request("/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!headers.contains_key(header::CONNECTION));
}

#[tokio::test]
async fn the_server_closes_the_connection_after_a_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app()).await });
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let big = oversized_json();
    let request = format!(
        "POST /movies HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{big}",
        big.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // Ends only when the server closes the connection; a kept-alive one would hang here.
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    server.abort();
}

#[tokio::test]
async fn axums_own_json_rejections_are_rewritten_into_the_model() {
    expect_error(
        json("/raw", "{oops"),
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
    )
    .await;
    expect_error(
        json("/raw", oversized_json()),
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
    )
    .await;
}

#[tokio::test]
async fn form_parses_and_its_errors_are_422_and_415() {
    let (status, _, body) = send(form("/login", "user=admin&password=secret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, br#"{"message":"admin:6"}"#);

    let body = expect_error(
        form("/login", "user=admin"),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(body.message.contains("password"), "{}", body.message);

    expect_error(
        json("/login", r#"{"user":"a","password":"b"}"#),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
    )
    .await;
}

#[tokio::test]
async fn form_from_a_get_query_that_does_not_fit_is_400_bad_request() {
    let (status, _, _) = send(get_request("/login?user=a&password=b")).await;
    assert_eq!(status, StatusCode::OK);
    expect_error(
        get_request("/login?user=a"),
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
    )
    .await;
}

#[tokio::test]
async fn json_response_that_cannot_serialize_is_500_internal() {
    async fn bad_keys() -> Json<HashMap<(u8, u8), u8>> {
        Json(HashMap::from([((1, 2), 3)]))
    }
    let app = Router::new()
        .route("/bad", get(bad_keys))
        .with_portcullis_defaults(ServiceDefaults::new());
    let response = app.oneshot(get_request("/bad")).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(body.code, ErrorCode::Internal.as_i32());
    assert!(!body.message.contains("key"), "{}", body.message);
}

#[tokio::test]
async fn path_that_does_not_parse_is_400_bad_request() {
    let body = expect_error(
        get_request("/movies/abc"),
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
    )
    .await;
    assert!(body.message.contains("abc"), "{}", body.message);
}

#[tokio::test]
async fn handler_errors_keep_their_status_code_and_message() {
    let body = expect_error(
        get_request("/movies/7"),
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
    )
    .await;
    assert_eq!(body.message, "Movie 7 not found");
}

#[tokio::test]
async fn query_that_does_not_parse_is_400_bad_request() {
    let (status, _, body) = send(get_request("/movies?limit=3")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"[0,1,2]");

    expect_error(
        get_request("/movies?limit=many"),
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
    )
    .await;
    expect_error(
        get_request("/movies"),
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
    )
    .await;
}

#[tokio::test]
async fn unknown_route_is_404_not_found() {
    expect_error(
        get_request("/nowhere"),
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
    )
    .await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow_header() {
    let request = Request::delete("/movies").body(Body::empty()).unwrap();
    let response = app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers()[header::ALLOW]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allow.contains("POST") && allow.contains("GET"), "{allow}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(body.code, ErrorCode::MethodNotAllowed.as_i32());
}

#[tokio::test]
async fn handler_panic_is_500_without_the_panic_message() {
    let (status, headers, body) = send(get_request("/panic")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(headers.contains_key("x-request-id"));
    let text = String::from_utf8(body).unwrap();
    assert!(!text.contains("secret"), "{text}");
    let body: ErrorBody = serde_json::from_str(&text).unwrap();
    assert_eq!(body.code, ErrorCode::Internal.as_i32());
}

#[tokio::test]
async fn plain_text_errors_are_rewritten_keeping_status_and_hiding_the_text() {
    let body = expect_error(
        get_request("/plain"),
        StatusCode::UNAUTHORIZED,
        ErrorCode::MissingCredentials,
    )
    .await;
    assert!(!body.message.contains("details"), "{}", body.message);
}

#[tokio::test]
async fn json_errors_of_the_handlers_own_are_left_alone() {
    let (status, _, body) = send(get_request("/own-json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, br#"{"custom":true}"#);
}

#[tokio::test]
async fn request_id_is_generated_when_absent() {
    let (_, headers, _) = send(get_request("/movies?limit=1")).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "UUID-shaped: {id}");
    let (_, other, _) = send(get_request("/movies?limit=1")).await;
    assert_ne!(other["x-request-id"], id);
}

#[tokio::test]
async fn request_id_is_propagated_even_on_errors() {
    let request = Request::get("/nowhere")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-request-id"], "abc-123");
}

#[tokio::test]
async fn the_handler_sees_the_request_id_the_response_carries() {
    let app = Router::new()
        .route(
            "/echo-id",
            get(|headers: http::HeaderMap| async move {
                headers["x-request-id"].to_str().unwrap().to_owned()
            }),
        )
        .with_portcullis_defaults(ServiceDefaults::new());
    for sent in [None, Some("client-id-7")] {
        let mut request = Request::get("/echo-id");
        if let Some(id) = sent {
            request = request.header("x-request-id", id);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let returned = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let seen = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(seen, returned.as_bytes());
        if let Some(id) = sent {
            assert_eq!(returned, id);
        }
    }
}

#[tokio::test]
async fn a_request_id_the_handler_sets_is_kept() {
    let app = Router::new()
        .route(
            "/own-id",
            get(|| async { ([("x-request-id", "from-the-handler")], "ok") }),
        )
        .with_portcullis_defaults(ServiceDefaults::new());
    let response = app.oneshot(get_request("/own-id")).await.unwrap();
    let ids: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
    assert_eq!(ids, ["from-the-handler"]);
}

#[tokio::test]
async fn unsafe_request_ids_are_replaced() {
    for unsafe_id in ["a b", &"x".repeat(129)] {
        let request = Request::get("/movies?limit=1")
            .header("x-request-id", unsafe_id)
            .body(Body::empty())
            .unwrap();
        let (_, headers, _) = send(request).await;
        let id = headers["x-request-id"].to_str().unwrap();
        assert_ne!(id, unsafe_id);
        assert_eq!(id.len(), 36);
    }
}

#[tokio::test(start_paused = true)]
async fn slow_request_is_504_timeout() {
    expect_error(
        get_request("/slow"),
        StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Timeout,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn timeout_is_configurable() {
    let app = Router::new()
        .route("/slow", get(slow))
        .with_portcullis_defaults(ServiceDefaults::new().timeout(Duration::from_secs(90)));
    let response = app.oneshot(get_request("/slow")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn problem_json_is_sent_when_asked_for() {
    let request = Request::get("/movies/7")
        .header(
            header::ACCEPT,
            "application/problem+json, application/json;q=0.5",
        )
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let problem: HashMap<String, serde_json::Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["code"], 1008);
    assert_eq!(problem["title"], "Not found");
    assert_eq!(problem["detail"], "Movie 7 not found");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("docs/error-codes.md#not_found")
    );
}

#[tokio::test]
async fn problem_json_covers_rewritten_errors_and_respects_q_zero() {
    let request = |accept: &'static str| {
        Request::get("/nowhere")
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap()
    };
    let (_, headers, _) = send(request("application/problem+json")).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let (_, headers, _) = send(request("application/problem+json;q=0")).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn problem_json_can_be_turned_off() {
    let app = Router::new().with_portcullis_defaults(ServiceDefaults::new().problem_json(false));
    let request = Request::get("/nowhere")
        .header(header::ACCEPT, "application/problem+json")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn message_serializes_as_the_original_service_does() {
    let (status, _, body) = send(form("/login", "user=a&password=")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, br#"{"message":"a:0"}"#);
    assert_eq!(
        serde_json::to_string(&Message::success()).unwrap(),
        r#"{"message":"Successfully"}"#
    );
}

#[tokio::test]
async fn retry_after_and_other_api_error_headers_survive_the_layers() {
    async fn limited() -> ApiError {
        ApiError::rate_limited("Slow down", Duration::from_millis(1500))
    }
    let app = Router::new()
        .route("/limited", get(limited))
        .with_portcullis_defaults(ServiceDefaults::new());
    let response = app.oneshot(get_request("/limited")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
}

/// A handler sees its request's trace (or a new one) and passes a child of it on.
#[tokio::test]
async fn a_handler_continues_its_requests_trace() {
    let app = Router::new()
        .route(
            "/calls-out",
            get(|| async {
                let mut outgoing = http::HeaderMap::new();
                portcullis_response::TraceContext::inject_current(&mut outgoing);
                outgoing["traceparent"].to_str().unwrap().to_owned()
            }),
        )
        .with_portcullis_defaults(ServiceDefaults::new());
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = Request::get("/calls-out")
        .header("traceparent", incoming)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let sent = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "same trace: {sent}"
    );
    assert!(
        !sent.contains("00f067aa0ba902b7"),
        "a fresh parent id: {sent}"
    );

    let mut trace_ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .clone()
            .oneshot(get_request("/calls-out"))
            .await
            .unwrap();
        let sent = String::from_utf8(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        trace_ids.push(sent[3..35].to_owned());
    }
    assert_ne!(
        trace_ids[0], trace_ids[1],
        "a new trace per untraced request"
    );
}

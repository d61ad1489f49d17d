//! The movie service's call to the IAM carries the incoming W3C trace: the login proxy's
//! outgoing request (through the balanced client) has the caller's trace id with a parent
//! id of its own, and `tracestate` as it came. The IAM is a recording server on loopback.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{HeaderMap, Request, StatusCode, header};
use portcullis_examples::config::{MovieServiceConfig, Secret};
use portcullis_examples::movie_service;
use portcullis_response::TraceContext;
use tower::ServiceExt;

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A stand-in IAM that answers every login with a token and keeps the headers it got.
async fn recording_iam() -> (String, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let app = Router::new().route(
        "/api/v1/admin/auth",
        post(move |headers: HeaderMap| {
            record.lock().unwrap().push(headers);
            async { r#"{"token":"t","tokenType":"Bearer","expiresIn":60}"# }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn login_through(movies: &Router, trace: Option<&str>) -> StatusCode {
    let mut request = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("tracestate", "vendor=1");
    if let Some(trace) = trace {
        request = request.header("traceparent", trace);
    }
    let request = request.body(Body::from("user=admin&password=pw")).unwrap();
    movies.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn the_login_proxy_sends_the_incoming_trace_on_to_the_iam() {
    let (iam, seen) = recording_iam().await;
    let mut config = MovieServiceConfig::default();
    config.service.auth_addr = iam;
    config.common.jwt_secret_password = Some(Secret::new("a shared secret of at least 32 bytes"));
    let movies = movie_service::build(&config, None).await.unwrap();

    assert_eq!(login_through(&movies, Some(INCOMING)).await, StatusCode::OK);
    assert_eq!(
        login_through(&movies, Some("not a traceparent")).await,
        StatusCode::OK
    );
    assert_eq!(login_through(&movies, None).await, StatusCode::OK);

    let seen = seen.lock().unwrap();
    let sent: Vec<TraceContext> = seen
        .iter()
        .map(|headers| TraceContext::from_headers(headers).expect("a traceparent on every call"))
        .collect();
    assert_eq!(
        sent[0].trace_id(),
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "the caller's trace"
    );
    assert_ne!(
        sent[0].parent_id(),
        "00f067aa0ba902b7",
        "a parent id of this hop"
    );
    assert_eq!(seen[0]["tracestate"], "vendor=1");
    // A malformed or missing header starts a new trace instead of failing the request.
    assert_ne!(sent[1].trace_id(), sent[0].trace_id());
    assert_ne!(sent[2].trace_id(), sent[1].trace_id());
}

//! End-to-end: the recommendation client's calls carry W3C trace context through its
//! balanced clients: one trace per round, shared by that round's login and list calls,
//! each call with a span id of its own. The IAM and the movie service are one recording
//! server on loopback, so every outgoing request is seen as it was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use portcullis_examples::testing::{Process, example_command};
use portcullis_response::TraceContext;

/// `(path, traceparent)` of every request the recording server got.
type Seen = Arc<Mutex<Vec<(&'static str, Option<TraceContext>)>>>;

async fn recording_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let (login_seen, list_seen) = (seen.clone(), seen.clone());
    let app = Router::new()
        .route(
            "/api/v1/admin/auth",
            post(move |headers: HeaderMap| {
                login_seen
                    .lock()
                    .unwrap()
                    .push(("login", TraceContext::from_headers(&headers)));
                async { r#"{"token":"t","tokenType":"Bearer","expiresIn":3600}"# }
            }),
        )
        .route(
            "/api/v1/movies/list",
            get(move |headers: HeaderMap| {
                list_seen
                    .lock()
                    .unwrap()
                    .push(("list", TraceContext::from_headers(&headers)));
                async { r#"[{"name":"Big Buck Bunny"}]"# }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_round_of_the_recommendation_client_is_one_trace() {
    let (url, seen) = recording_server().await;
    let mut command = example_command("recommendation_client");
    command
        .args(["--iam", &url, "--movies", &url])
        .args(["--rounds", "2", "--interval-ms", "10"])
        .env("PORTCULLIS_PASSWORD", "any");
    let mut client = Process::spawn("recommendation_client", command);
    let exit = tokio::task::spawn_blocking(move || {
        let code = client.wait_for_exit(Duration::from_secs(30));
        (code, client.report())
    })
    .await
    .unwrap();
    assert_eq!(exit.0, Some(0), "{}", exit.1);

    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|(path, _)| *path).collect();
    assert_eq!(
        paths,
        ["login", "list", "list"],
        "one login, a list per round"
    );
    let traces: Vec<TraceContext> = seen
        .iter()
        .map(|(path, trace)| trace.unwrap_or_else(|| panic!("{path} came without a traceparent")))
        .collect();
    assert_eq!(
        traces[0].trace_id(),
        traces[1].trace_id(),
        "a round's login and list share its trace"
    );
    assert_ne!(
        traces[1].trace_id(),
        traces[2].trace_id(),
        "each round is a trace of its own"
    );
    assert_ne!(
        traces[0].parent_id(),
        traces[1].parent_id(),
        "each call is a span of its own"
    );
}

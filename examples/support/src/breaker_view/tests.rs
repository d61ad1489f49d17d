use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::StreamExt;
use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker};
use tower::ServiceExt;

use super::*;

const NAME: &str = "movie_service/127.0.0.1:9";

/// A client with one instance (nothing listens there: the tests call its breaker
/// directly) whose breaker opens after one failure and keeps `capacity` events a
/// subscriber.
fn client(capacity: usize) -> BalancedClient {
    BalancedClient::builder()
        .service_name("movie_service")
        .upstream("http://127.0.0.1:9")
        .breaker(
            CircuitBreaker::builder()
                .max_failures(1)
                .reset_timeout(Duration::from_secs(30))
                .event_capacity(capacity),
        )
        .build()
        .expect("a valid client")
}

fn breaker(client: &BalancedClient) -> CircuitBreaker {
    client.upstreams().next().expect("one instance").1
}

async fn succeed(breaker: &CircuitBreaker) {
    let _ = breaker.call(|| async { Ok::<_, ()>(()) }).await;
}

fn rows_of(message: &Message) -> &[Row] {
    match message {
        Message::Snapshot(rows) | Message::Update(rows) => rows,
    }
}

#[tokio::test(start_paused = true)]
async fn the_stream_sends_a_snapshot_first_then_each_state_change() {
    let client = client(64);
    let view = BreakerView::new([client.clone()]);
    let mut viewer = view.viewer().expect("a viewer");

    let first = viewer.next_message().await.expect("a first message");
    let Message::Snapshot(rows) = &first else {
        panic!("not a snapshot first: {first:?}");
    };
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].name.as_str(), rows[0].state), (NAME, "closed"));
    assert_eq!(rows[0].remaining_open_ms, None);

    // One failure opens it: the change is sent at once, with the time left and the count.
    let _ = breaker(&client)
        .call(|| async { Err::<(), _>("refused") })
        .await;
    let opened = viewer.next_message().await.expect("an update");
    assert!(matches!(opened, Message::Update(_)), "{opened:?}");
    let row = &rows_of(&opened)[0];
    assert_eq!((row.name.as_str(), row.state), (NAME, "open"));
    assert_eq!(row.failures, 1);
    assert!(
        row.remaining_open_ms
            .is_some_and(|ms| ms > 0 && ms <= 30_000),
        "{row:?}"
    );

    breaker(&client).reset();
    let closed = viewer.next_message().await.expect("an update");
    assert_eq!(rows_of(&closed)[0].state, "closed", "{closed:?}");
}

#[tokio::test(start_paused = true)]
async fn call_counts_go_out_with_the_next_refresh_not_one_message_per_call() {
    let client = client(64);
    let view = BreakerView::new([client.clone()]);
    let mut viewer = view.viewer().expect("a viewer");
    viewer.next_message().await.expect("the snapshot");

    for _ in 0..5 {
        succeed(&breaker(&client)).await;
    }
    let started = tokio::time::Instant::now();
    let update = viewer.next_message().await.expect("an update");
    assert!(matches!(update, Message::Update(_)), "{update:?}");
    assert_eq!(rows_of(&update)[0].successes, 5, "all five in one message");
    assert!(
        started.elapsed() >= sse::REFRESH / 2,
        "held for the refresh, not sent per call"
    );
}

#[tokio::test(start_paused = true)]
async fn a_viewer_that_falls_behind_gets_a_fresh_snapshot() {
    let client = client(4);
    let view = BreakerView::new([client.clone()]);
    let mut viewer = view.viewer().expect("a viewer");
    viewer.next_message().await.expect("the snapshot");

    // More events than the viewer's buffer holds, while it does not read.
    for _ in 0..10 {
        succeed(&breaker(&client)).await;
    }
    let message = viewer.next_message().await.expect("a message");
    let Message::Snapshot(rows) = &message else {
        panic!("not a snapshot after lagging: {message:?}");
    };
    assert_eq!(rows[0].successes, 10);
}

#[tokio::test(start_paused = true)]
async fn closing_the_view_ends_the_streams_and_refuses_new_ones() {
    let view = BreakerView::new([client(64)]);
    let mut viewer = view.viewer().expect("a viewer");
    viewer.next_message().await.expect("the snapshot");
    view.close();
    assert_eq!(viewer.next_message().await, None);
    assert!(view.viewer().is_none());
}

async fn get(app: &Router, path: &str) -> axum::response::Response {
    app.clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
        .await
        .expect("infallible")
}

#[tokio::test]
async fn the_page_and_its_assets_carry_a_strict_policy() {
    let app: Router = BreakerView::new([client(64)]).router();
    for (path, content_type) in [
        ("/breakers", "text/html; charset=utf-8"),
        ("/breakers/app.js", "text/javascript; charset=utf-8"),
        ("/breakers/app.css", "text/css; charset=utf-8"),
    ] {
        let response = get(&app, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    // Nothing inline for the policy to allow, and no HTML written from data.
    assert!(!PAGE.contains("<style") && !PAGE.contains("<script>"));
    assert!(!PAGE.contains(" style=") && !PAGE.contains(" on"));
    assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("insertAdjacentHTML"));
}

#[tokio::test]
async fn the_event_stream_starts_with_a_snapshot_and_viewers_past_the_cap_get_503() {
    let app: Router = BreakerView::with_max_viewers([client(64)], 1).router();

    let first = get(&app, "/breakers/events").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = first.into_body().into_data_stream();
    let chunk = body.next().await.expect("a chunk").expect("data");
    let text = std::str::from_utf8(&chunk).expect("UTF-8");
    assert!(text.starts_with("event: snapshot\n"), "{text:?}");
    assert!(
        text.contains(&format!(r#""name":"{NAME}","state":"closed""#)),
        "{text:?}"
    );

    // The cap: the second viewer is turned away in the error model.
    let second = get(&app, "/breakers/events").await;
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(second.headers().contains_key(header::RETRY_AFTER));
    let bytes = axum::body::to_bytes(second.into_body(), 4096)
        .await
        .expect("a body");
    let error: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(error["code"], 1011, "{error}");

    // The first viewer hangs up: its place is free again.
    drop(body);
    assert_eq!(get(&app, "/breakers/events").await.status(), StatusCode::OK);
}

//! The defaults count and time requests by route template, method and status class
//! (feature `metrics`), read back through metrics-util's recorder.

#![cfg(feature = "metrics")]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use portcullis_response::{ApiError, RouterExt, ServiceDefaults};
use tower::ServiceExt;

fn app() -> Router {
    Router::new()
        .route("/movies/{id}", get(|| async { "a movie" }))
        .route(
            "/broken",
            get(|| async { Err::<(), _>(ApiError::internal("boom")) }),
        )
        .with_portcullis_defaults(ServiceDefaults::new())
}

fn label(key: &CompositeKey, name: &str) -> String {
    key.key()
        .labels()
        .find(|label| label.key() == name)
        .map(|label| label.value().to_owned())
        .unwrap_or_default()
}

#[test]
fn requests_are_counted_by_route_template_method_and_status_class() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            for path in ["/movies/1", "/movies/2", "/broken", "/nowhere/secret-123"] {
                let request = http::Request::get(path).body(Body::empty()).unwrap();
                app().oneshot(request).await.unwrap();
            }
            let request = http::Request::builder()
                .method("BREW")
                .uri("/movies/3")
                .body(Body::empty())
                .unwrap();
            app().oneshot(request).await.unwrap();
        });
    });

    let mut counted = Vec::new();
    let mut timed = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels = (
            label(&key, "method"),
            label(&key, "route"),
            label(&key, "status"),
        );
        match (key.kind(), key.key().name(), value) {
            (MetricKind::Counter, "portcullis_http_requests_total", DebugValue::Counter(n)) => {
                counted.push((labels, n));
            }
            (
                MetricKind::Histogram,
                "portcullis_http_request_duration_seconds",
                DebugValue::Histogram(samples),
            ) => {
                timed += samples.len();
            }
            _ => {}
        }
    }
    counted.sort();
    let expect = |method: &str, route: &str, status: &str, n: u64| {
        ((method.to_owned(), route.to_owned(), status.to_owned()), n)
    };
    assert_eq!(
        counted,
        [
            expect("GET", "/broken", "5xx", 1),
            expect("GET", "/movies/{id}", "2xx", 2),
            expect("GET", "unmatched", "4xx", 1),
            expect("other", "/movies/{id}", "4xx", 1),
        ],
        "the template, never the raw path; unknown methods as `other`"
    );
    assert_eq!(timed, 5, "every request is timed");
}

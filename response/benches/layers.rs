//! The per-request cost of the default layers: one in-process `GET` through a bare router
//! against the same router with [`RouterExt::with_portcullis_defaults`], via `oneshot` (no
//! sockets, so only the layers' own work shows).

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use portcullis_response::{RouterExt, ServiceDefaults};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

async fn movies() -> &'static str {
    r#"[{"name":"Alien","year":1979}]"#
}

fn router() -> Router {
    Router::new().route("/movies", get(movies))
}

async fn get_once(app: Router) {
    let response = app
        .oneshot(Request::get("/movies").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap();
    assert!(!body.to_bytes().is_empty());
}

fn layers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let bare = router();
    let layered = router().with_portcullis_defaults(ServiceDefaults::new());
    let mut group = c.benchmark_group("get");
    group.bench_function("bare", |b| {
        b.iter(|| runtime.block_on(get_once(bare.clone())));
    });
    group.bench_function("with_defaults", |b| {
        b.iter(|| runtime.block_on(get_once(layered.clone())));
    });
    group.finish();

    // tower-http layers alone, on the bare router: trace and catch-panic are in the stack;
    // the timeout, request-id and body-limit ones are what the stack's own replaced.
    let single: [(&str, Router); 6] = [
        // What any `Router::layer` call costs: the route boxed again.
        (
            "identity",
            router().layer(tower::layer::util::Identity::new()),
        ),
        (
            "tower_http_timeout",
            router().layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                Duration::from_secs(30),
            )),
        ),
        ("trace", router().layer(TraceLayer::new_for_http())),
        ("catch_panic", router().layer(CatchPanicLayer::new())),
        (
            "request_id",
            router().layer(
                ServiceBuilder::new()
                    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                    .layer(PropagateRequestIdLayer::x_request_id()),
            ),
        ),
        (
            "body_limit",
            router().layer(RequestBodyLimitLayer::new(1024 * 1024)),
        ),
    ];
    let mut group = c.benchmark_group("bare_plus");
    for (name, app) in single {
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(get_once(app.clone())));
        });
    }
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);

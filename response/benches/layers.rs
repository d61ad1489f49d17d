//! The per-request cost of the default layers: one in-process `GET` through a bare router
//! against the same router with [`RouterExt::with_portcullis_defaults`], via `oneshot` (no
//! sockets, so only the layers' own work shows).

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use portcullis_response::{RouterExt, ServiceDefaults};
use tower::ServiceExt;

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
}

criterion_group!(benches, layers);
criterion_main!(benches);

//! `client_credentials` issuance at `POST /oauth2/token`: latency percentiles and
//! throughput over real HTTP on 127.0.0.1, plus criterion's timing of one issuance
//! through the router in process (no network).
//!
//! Run: `cargo bench -p portcullis-iam --bench oauth_token`. Targets: p99 at most 2 ms,
//! at least 2000 tokens per second. The server runs on its own 2-worker runtime, as the
//! services do; the clients share the machine.
//!
//! 1. `in process` (criterion): one request through `Iam::router` with `oneshot`: form
//!    parsing, client authentication (HMAC-SHA-256 of the secret, constant-time compare),
//!    scope check, Ed25519 signing.
//! 2. `sequential`: 2000 requests one after another over HTTP -> p50/p95/p99.
//! 3. `throughput`: 16 clients in a loop for 5 seconds -> tokens per second, p50/p99.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::Criterion;
use http::Request;
use portcullis_iam::{AdminBootstrap, BootstrapClient, Iam, OAuthSettings, SigningKey};
use tower::ServiceExt;

mod support;
use support::{report, serve_on_own_runtime};

const CLIENT_ID: &str = "bench-client";
const SECRET: &str = "a benchmark client secret, long enough";
const FORM: &str = "grant_type=client_credentials&scope=movies%3Aread";

async fn build() -> Iam {
    Iam::builder()
        .signing_key(SigningKey::generate_ed25519())
        .admin_bootstrap(AdminBootstrap::Disabled)
        .oauth(
            OAuthSettings::default().bootstrap_client(BootstrapClient::new(
                CLIENT_ID,
                SECRET,
                ["movies:read", "movies:write"],
            )),
        )
        .build()
        .await
        .unwrap()
}

/// Starts the IAM on its own 2-worker runtime and returns its base URL.
fn start_server() -> String {
    serve_on_own_runtime(|| async { build().await.router() })
}

async fn issue(client: &reqwest::Client, url: &str) {
    let response = client
        .post(url)
        .basic_auth(CLIENT_ID, Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
}

fn in_process(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let router = runtime.block_on(build()).router();
    let authorization = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{CLIENT_ID}:{SECRET}")
        )
    );
    c.bench_function("client_credentials in process", |b| {
        b.iter(|| {
            let request = Request::post("/oauth2/token")
                .header("authorization", &authorization)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(FORM))
                .unwrap();
            let response = runtime.block_on(router.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), 200);
        });
    });
}

async fn sequential(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..50 {
        issue(&client, url).await;
    }
    let mut samples = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let start = Instant::now();
        issue(&client, url).await;
        samples.push(start.elapsed());
    }
    report("client_credentials over HTTP, sequential", samples);
}

async fn throughput(url: &str) {
    const CLIENTS: usize = 16;
    const RUN: Duration = Duration::from_secs(5);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, url) = (Arc::clone(&stop), url.to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    issue(&client, &url).await;
                    samples.push(start.elapsed());
                }
                samples
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "client_credentials over HTTP, {CLIENTS} clients: {:.0} tokens/s",
        samples.len() as f64 / elapsed
    );
    report(&format!("  latency with {CLIENTS} clients"), samples);
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    in_process(&mut criterion);
    criterion.final_summary();

    let base = start_server();
    let url = format!("{base}/oauth2/token");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sequential(&url).await;
        throughput(&url).await;
    });
}

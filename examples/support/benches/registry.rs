//! The balanced client following the registry, measured against a real etcd
//! (`ETCD_ENDPOINTS`, e.g. from `scripts/etcd-test-server start`):
//!
//! 1. **Join latency**: from the moment an instance registers until the balanced client's
//!    first request reaches it, while the client is under load (a sequential request loop
//!    against an instance already known), over `JOINS` joins: p50, p99, max.
//! 2. **Per-request overhead**: the same loop, through a client following the registry
//!    and through one with the same instance fixed, interleaved in `ROUNDS` rounds in the
//!    same run (alternating which goes first): mean time per request of each, and the difference.
//!
//! `cargo bench -p portcullis-examples --bench registry`. Run it on an idle machine; the
//! figures go to docs/benchmarks.md.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker};
use portcullis_discovery::{EtcdRegistry, Instance};
use portcullis_examples::registry::follow::upstream_changes;
use tokio::net::TcpListener;
use tokio::sync::Notify;

const JOINS: usize = 100;
const ROUNDS: usize = 15;
const REQUESTS_PER_ROUND: usize = 5_000;
const SERVICE: &str = "bench";

/// A loopback server answering `GET /` with 200 that notes its first request.
struct Server {
    addr: SocketAddr,
    first_request: Arc<Notify>,
    stop: tokio::task::AbortHandle,
}

async fn server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let first_request = Arc::new(Notify::new());
    let seen = Arc::new(AtomicBool::new(false));
    let notify = Arc::clone(&first_request);
    let app = Router::new().route(
        "/",
        get(move || {
            if !seen.swap(true, Ordering::Relaxed) {
                notify.notify_one();
            }
            async { "ok" }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        addr,
        first_request,
        stop: task.abort_handle(),
    }
}

fn instance(id: &str, addr: SocketAddr) -> Instance {
    Instance::new(
        SERVICE,
        id,
        format!("http://{addr}").parse().expect("a URL"),
    )
}

fn client() -> portcullis_circuit_breaker::BalancedClientBuilder {
    BalancedClient::builder()
        .breaker(CircuitBreaker::builder().call_timeout(Duration::from_secs(2)))
}

/// Sends requests one after another until `stop`.
async fn load(client: BalancedClient, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(response) = client.get("/").send().await {
            let _ = response.bytes().await;
        }
    }
}

/// The mean time per request of `requests` sequential requests.
async fn mean_request_time(client: &BalancedClient, requests: usize) -> Duration {
    let started = Instant::now();
    for _ in 0..requests {
        let response = client.get("/").send().await.expect("a response");
        let _ = response.bytes().await;
    }
    started.elapsed() / u32::try_from(requests).expect("a small count")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

#[tokio::main]
async fn main() {
    let endpoint = std::env::var("ETCD_ENDPOINTS")
        .ok()
        .and_then(|list| list.split(',').next().map(str::to_owned))
        .expect("ETCD_ENDPOINTS is not set: export \"$(scripts/etcd-test-server start)\"");
    let prefix = format!("/portcullis-bench/{}", std::process::id());
    let registry = EtcdRegistry::builder()
        .endpoint(endpoint)
        .prefix(prefix)
        .build()
        .expect("a registry client");

    // An instance that stays, so that the load loop always has somewhere to go.
    let anchor = server().await;
    let _anchor = registry
        .register(instance("anchor", anchor.addr))
        .await
        .expect("register the anchor");
    let view = registry.watch(SERVICE).expect("a view");
    let live = client()
        .build_with_discovery(upstream_changes(&view))
        .expect("a live client");
    while live.upstreams().next().is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // 1. Join latency, under load.
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(live.clone(), Arc::clone(&stop)));
    let mut joins = Vec::with_capacity(JOINS);
    for join in 0..JOINS {
        let joining = server().await;
        let first = Arc::clone(&joining.first_request);
        let started = Instant::now();
        let entry = registry
            .register(instance(&format!("join-{join}"), joining.addr))
            .await
            .expect("register");
        tokio::time::timeout(Duration::from_secs(10), first.notified())
            .await
            .expect("the joining instance got a request within 10 s");
        joins.push(started.elapsed());
        entry.deregister().await.expect("deregister");
        // Out of the client's set before its server goes.
        while live.upstreams().count() > 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        joining.stop.abort();
    }
    stop.store(true, Ordering::Relaxed);
    let _ = loader.await;
    joins.sort();
    println!(
        "join latency over {JOINS} joins (registration to first request): p50 {:?}, p99 {:?}, max {:?}",
        percentile(&joins, 0.5),
        percentile(&joins, 0.99),
        joins[JOINS - 1]
    );

    // 2. Per-request cost: live source against the same instance fixed, interleaved.
    let fixed = client()
        .upstream(format!("http://{}", anchor.addr))
        .build()
        .expect("a fixed client");
    let (mut live_times, mut fixed_times) = (Vec::new(), Vec::new());
    // A warm-up of each, then the rounds.
    mean_request_time(&live, 1_000).await;
    mean_request_time(&fixed, 1_000).await;
    // Alternating which goes first, so that neither always runs on a warmer machine.
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            live_times.push(mean_request_time(&live, REQUESTS_PER_ROUND).await);
            fixed_times.push(mean_request_time(&fixed, REQUESTS_PER_ROUND).await);
        } else {
            fixed_times.push(mean_request_time(&fixed, REQUESTS_PER_ROUND).await);
            live_times.push(mean_request_time(&live, REQUESTS_PER_ROUND).await);
        }
    }
    live_times.sort();
    fixed_times.sort();
    let (live_median, fixed_median) = (live_times[ROUNDS / 2], fixed_times[ROUNDS / 2]);
    println!(
        "per request over loopback ({ROUNDS} rounds of {REQUESTS_PER_ROUND}, median of round means): \
         live source {live_median:?}, fixed {fixed_median:?}, difference {:+.2} us ({:+.1}%)",
        (live_median.as_secs_f64() - fixed_median.as_secs_f64()) * 1e6,
        (live_median.as_secs_f64() / fixed_median.as_secs_f64() - 1.0) * 100.0
    );
    println!("  round means, live: {live_times:?}\n  round means, fixed: {fixed_times:?}");
    anchor.stop.abort();
}

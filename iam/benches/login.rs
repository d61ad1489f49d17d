//! Login latency at OWASP argon2id parameters, and how responsive the runtime stays while
//! many logins run at once.
//!
//! Run: `cargo bench -p portcullis-iam --bench login`. A bench binary rather than
//! criterion, because the figures wanted are percentiles (p50/p95/p99), which criterion
//! does not report. Everything is over real HTTP on 127.0.0.1.
//!
//! 0. `verify alone`: 100 argon2id verifications through `Passwords` (no HTTP).
//! 1. `login`: 200 sequential logins (form body, correct password) -> p50/p95/p99.
//! 2. `health under load`: 32 clients log in in a loop while a probe calls `GET /healthz`
//!    every 5 ms; the probe's p50/p99, first with the default bounded hashing pool
//!    (`max_concurrent` = number of cores), then with one hash at a time, then effectively
//!    unbounded (64) to show what the bound buys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use portcullis_iam::{AdminBootstrap, Iam, PasswordPolicy, Passwords, SigningKey, ThrottlePolicy};

mod support;
use support::{report, serve_on_own_runtime};

const PASSWORD: &str = "a benchmark admin password";

/// Starts the IAM (plus `/healthz`) on its own 2-worker runtime and returns its base URL.
fn start_server(policy: PasswordPolicy) -> String {
    serve_on_own_runtime(move || async move {
        let iam = Iam::builder()
            .signing_key(SigningKey::generate_ed25519())
            .password_policy(policy)
            .throttle(
                ThrottlePolicy::default()
                    .max_failures_per_name(1_000_000)
                    .max_failures_per_address(1_000_000),
            )
            .admin_bootstrap(AdminBootstrap::Password(PASSWORD.to_owned()))
            .build()
            .await
            .unwrap();
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .merge(iam.router())
    })
}

async fn login(client: &reqwest::Client, base: &str) {
    let response = client
        .post(format!("{base}/api/v1/admin/auth"))
        .form(&[("user", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The argon2id verification alone (through `Passwords`, no HTTP), to separate the hash
/// cost from the rest of a login.
async fn verify_alone() {
    let passwords = Passwords::new(PasswordPolicy::owasp()).await.unwrap();
    let hash = passwords.hash(PASSWORD).await.unwrap();
    let mut samples = Vec::new();
    for _ in 0..100 {
        let start = Instant::now();
        let outcome = passwords.verify(PASSWORD, Some(&hash)).await.unwrap();
        samples.push(start.elapsed());
        assert!(outcome.matches);
    }
    report("argon2id verify alone (m=19456 t=2 p=1)", samples);
}

async fn sequential_logins(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..5 {
        login(&client, base).await;
    }
    let mut samples = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        login(&client, base).await;
        samples.push(start.elapsed());
    }
    report("login (argon2id m=19456 t=2 p=1), sequential", samples);
}

async fn health_under_load(base: &str, label: &str) {
    let client = reqwest::Client::new();
    // Idle baseline.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        client.get(format!("{base}/healthz")).send().await.unwrap();
        idle.push(start.elapsed());
    }
    report(&format!("healthz idle [{label}]"), idle);

    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (client, base, stop, logins) = (
                client.clone(),
                base.to_owned(),
                stop.clone(),
                logins.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    login(&client, &base).await;
                    logins.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Let the 32 logins pile up before probing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut probes = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..600 {
        tick.tick().await;
        let start = Instant::now();
        client.get(format!("{base}/healthz")).send().await.unwrap();
        probes.push(start.elapsed());
    }
    let elapsed = started.elapsed();
    let done = logins.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    report(&format!("healthz while 32 logins run [{label}]"), probes);
    println!(
        "{:<44} {:.1} logins/s over {:.1} s",
        format!("login throughput [{label}]"),
        done as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: skip then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("login bench: run with `cargo bench -p portcullis-iam --bench login`");
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("machine: {cores} cores available; server runtime 2 workers; client in-process");
    println!("load average at start: {}", load_average());
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    client_runtime.block_on(verify_alone());

    let bounded = start_server(PasswordPolicy::owasp());
    client_runtime.block_on(sequential_logins(&bounded));
    client_runtime.block_on(health_under_load(
        &bounded,
        &format!("bounded pool: {cores}"),
    ));

    let single = start_server(PasswordPolicy::owasp().max_concurrent(1));
    client_runtime.block_on(health_under_load(&single, "bounded pool: 1"));

    let unbounded = start_server(PasswordPolicy::owasp().max_concurrent(64));
    client_runtime.block_on(health_under_load(&unbounded, "unbounded: 64"));
    println!("load average at end: {}", load_average());
}

/// The 1/5/15-minute load averages (Linux), to judge how noisy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

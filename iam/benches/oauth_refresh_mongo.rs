//! `POST /oauth2/token` with the IAM's users and OAuth clients and refresh tokens in
//! `MongoDB` (`MongoUserStore`, `MongoOAuthStore`): the `refresh_token` grant (find the
//! token while the client is read, rotate it while the user is read, sign) and
//! `client_credentials` (the client read from the database).
//!
//! Run: `MONGODB_URI=mongodb://127.0.0.1:27017/ cargo bench -p portcullis-iam --features
//! mongodb --bench oauth_refresh_mongo`. Without `MONGODB_URI` it prints why and exits
//! with status 2: it measures nothing without a server. It works in a database of its
//! own (`portcullis_bench_<pid>_<hex>`), dropped at the end.
//!
//! Targets: refresh p99 at most 5 ms; `client_credentials` p99 at most 2 ms and at least
//! 2000 tokens per second from one instance. The server runs on its own 2-worker
//! runtime, as the services do; the clients and the database share the machine.
//!
//! 1. `in process` (criterion): one refresh through `Iam::router` with `oneshot`, each
//!    iteration presenting the token the previous one returned.
//! 2. `sequential`: 500 refreshes (one rotation chain) and 2000 `client_credentials`
//!    requests one after another over HTTP -> p50/p95/p99.
//! 3. `throughput`: 16 clients in a loop for 5 seconds (each refresh client on its own
//!    chain) -> tokens per second, p50/p99.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::Criterion;
use http::Request;
use mongodb::Database;
use portcullis_iam::{
    AdminBootstrap, BootstrapClient, Iam, MongoOAuthStore, MongoUserStore, OAuthSettings,
    SigningKey,
};
use tower::ServiceExt;

mod support;
use support::{report, serve_on_own_runtime};

const CLIENT_ID: &str = "bench-client";
const SECRET: &str = "a benchmark client secret, long enough";
const ADMIN_PASSWORD: &str = "a benchmark admin password, long enough";
/// Sequential refreshes measured: each writes three times, so fewer than the 2000
/// `client_credentials` requests keep the run within minutes on a slow server.
const REFRESH_SAMPLES: usize = 500;
const CLIENT_CREDENTIALS: &str = "grant_type=client_credentials&scope=movies%3Aread";

/// A database name of this run only.
fn database_name(purpose: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "portcullis_bench_{purpose}_{}_{nanos:x}",
        std::process::id()
    )
}

/// The database `name` on `uri`. The driver monitors the server from tasks of the runtime
/// that connects, so each runtime connects for itself.
async fn database(uri: &str, name: &str) -> Database {
    mongodb::Client::with_uri_str(uri)
        .await
        .expect("a valid MONGODB_URI")
        .database(name)
}

async fn build(database: &Database, key: SigningKey) -> Iam {
    let oauth = OAuthSettings::default()
        .store(MongoOAuthStore::new(database.clone()).await.unwrap())
        .hash_key([7u8; 32])
        .bootstrap_client(BootstrapClient::new(
            CLIENT_ID,
            SECRET,
            ["movies:read", "movies:write"],
        ));
    Iam::builder()
        .signing_key(key)
        .store(MongoUserStore::new(database.clone()).await.unwrap())
        .admin_bootstrap(AdminBootstrap::Password(ADMIN_PASSWORD.to_owned()))
        .oauth(oauth)
        .build()
        .await
        .unwrap()
}

/// Starts the IAM on its own 2-worker runtime and returns its base URL.
fn start_server(uri: String, name: String, key: SigningKey) -> String {
    serve_on_own_runtime(
        move || async move { build(&database(&uri, &name).await, key).await.router() },
    )
}

/// Posts `form` with the client's credentials; the JSON answer, after checking for 200.
async fn token_call(client: &reqwest::Client, url: &str, form: String) -> serde_json::Value {
    let response = client
        .post(url)
        .basic_auth(CLIENT_ID, Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn refresh_form(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", token)
        .finish()
}

/// A new refresh token from a password login (the start of a rotation chain).
async fn login(client: &reqwest::Client, url: &str) -> String {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "password")
        .append_pair("username", "admin")
        .append_pair("password", ADMIN_PASSWORD)
        .finish();
    token_call(client, url, form).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One refresh; returns the rotated token.
async fn refresh(client: &reqwest::Client, url: &str, token: &str) -> String {
    token_call(client, url, refresh_form(token)).await["refresh_token"]
        .as_str()
        .expect("a rotated refresh token")
        .to_owned()
}

fn in_process(c: &mut Criterion, uri: &str, name: &str, key: SigningKey) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let router = runtime
        .block_on(async { build(&database(uri, name).await, key).await })
        .router();
    let authorization = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{CLIENT_ID}:{SECRET}")
        )
    );
    let call = |form: String| {
        let request = Request::post("/oauth2/token")
            .header("authorization", &authorization)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    let login = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "password")
        .append_pair("username", "admin")
        .append_pair("password", ADMIN_PASSWORD)
        .finish();
    let mut token = runtime.block_on(call(login))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut group = c.benchmark_group("MongoDB");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("refresh_token in process", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    call(refresh_form(&token)).await["refresh_token"]
                        .as_str()
                        .unwrap()
                        .clone_into(&mut token);
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

async fn sequential(url: &str) {
    let client = reqwest::Client::new();
    let mut token = login(&client, url).await;
    for _ in 0..20 {
        token = refresh(&client, url, &token).await;
    }
    let mut samples = Vec::with_capacity(REFRESH_SAMPLES);
    for _ in 0..REFRESH_SAMPLES {
        let start = Instant::now();
        token = refresh(&client, url, &token).await;
        samples.push(start.elapsed());
    }
    report("refresh_token over HTTP, sequential", samples);

    let mut samples = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let start = Instant::now();
        token_call(&client, url, CLIENT_CREDENTIALS.to_owned()).await;
        samples.push(start.elapsed());
    }
    report("client_credentials over HTTP, sequential", samples);
}

async fn throughput(url: &str, refresh_grant: bool) {
    const CLIENTS: usize = 16;
    const RUN: Duration = Duration::from_secs(5);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let (stop, url) = (Arc::clone(&stop), url.to_owned());
        let client = reqwest::Client::new();
        let mut token = if refresh_grant {
            login(&client, &url).await
        } else {
            String::new()
        };
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                if refresh_grant {
                    token = refresh(&client, &url, &token).await;
                } else {
                    token_call(&client, &url, CLIENT_CREDENTIALS.to_owned()).await;
                }
                samples.push(start.elapsed());
            }
            samples
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let grant = if refresh_grant {
        "refresh_token"
    } else {
        "client_credentials"
    };
    println!(
        "{grant} over HTTP, {CLIENTS} clients: {:.0} tokens/s",
        samples.len() as f64 / elapsed
    );
    report(&format!("  latency with {CLIENTS} clients"), samples);
}

fn main() {
    let uri = match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => {
            eprintln!(
                "oauth_refresh_mongo: MONGODB_URI is not set, so there is nothing to measure. \
                 Start a server (scripts/mongo-test-server start, see docs/mongodb.md) and \
                 export MONGODB_URI."
            );
            std::process::exit(2);
        }
    };
    let criterion_db = database_name("criterion");
    let server_db = database_name("server");
    let key = SigningKey::generate_ed25519();

    let mut criterion = Criterion::default().configure_from_args();
    in_process(&mut criterion, &uri, &criterion_db, key.clone());
    criterion.final_summary();

    let base = start_server(uri.clone(), server_db.clone(), key);
    let url = format!("{base}/oauth2/token");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sequential(&url).await;
        throughput(&url, true).await;
        throughput(&url, false).await;
        for name in [criterion_db, server_db] {
            database(&uri, &name).await.drop().await.unwrap();
        }
    });
}

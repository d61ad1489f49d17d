//! The gateway end to end: the shipped `docs/deploy/nginx/nginx.conf` run by a real nginx in
//! front of 2 `user_service` and 3 `movie_service` example processes, all on loopback.
//!
//! Checks routing with prefix stripping, the 3:1 and 3:1:2 weights, failover while one
//! movie instance is killed under load, the recommendation client through the gateway,
//! and the circuit breaker's client over the three movie instances directly.
//!
//! Bounded: at most [`TEST_LIMIT`] in all and a fixed number of requests per phase. Every
//! process it starts is killed when the test ends, also when it fails.
//!
//! Needs nginx (`scripts/install-nginx`): ignored by default, run with `--include-ignored`
//! (as `.ci/run` does); without nginx it then fails and says how to install it.

mod gateway {
    pub(crate) mod fixtures;
    pub(crate) mod load;
    pub(crate) mod nginx;
    pub(crate) mod services;
}

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker, State};
use serde_json::json;

use gateway::load::{assert_shares, burst, instance_of, shares};
use gateway::nginx::{Nginx, find_nginx};
use gateway::services::ServiceSpec;
use portcullis_examples::testing::{ChildGuard, Service, TempDir, example_binary, free_port};

/// The whole test, start-up included, must finish within this.
const TEST_LIMIT: Duration = Duration::from_secs(240);
/// Requests per service for the weight check.
const WEIGHT_SAMPLE: usize = 600;
/// The share of each instance may differ from its weight's share by this much (a fraction
/// of all requests). nginx's smooth weighted round robin in one process is exact over a
/// multiple of the weight sum; the slack covers requests of earlier phases.
const WEIGHT_TOLERANCE: f64 = 0.05;
/// The failover burst: requests, concurrent clients, and the request at which a movie
/// instance is killed.
const BURST_REQUESTS: usize = 3000;
const BURST_CONCURRENCY: usize = 16;
const BURST_KILL_AT: usize = 1000;

const USERS: &str = "/seedotech.usermanagement";
const MOVIES: &str = "/seedotech.moviemanagement";
const MOVIE_LIST: &str = "/api/v1/movies/list";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs nginx (scripts/install-nginx)"]
async fn gateway_routes_balances_and_fails_over_across_real_services() {
    let nginx = find_nginx().expect(
        "nginx is not installed: install it with scripts/install-nginx (or put it on PATH)",
    );
    // On timeout the stack is dropped, which kills every process it started.
    tokio::time::timeout(TEST_LIMIT, run(&nginx))
        .await
        .unwrap_or_else(|_| panic!("the gateway test took longer than {TEST_LIMIT:?}"));
}

/// The running system under test. Dropping it kills everything (fields drop in order).
struct Stack {
    nginx: Nginx,
    users: Vec<Service>,
    movies: Vec<Service>,
    admin_password: String,
    // Last: removed once everything that writes into it is gone.
    _dir: TempDir,
}

impl Stack {
    fn start(nginx_binary: &Path) -> Self {
        let dir = TempDir::new("gateway");
        let key_file = dir.path().join("signing-key.pem");
        std::fs::write(&key_file, gateway::fixtures::ed25519_pkcs8_pem()).expect("write key");
        let admin_password = gateway::fixtures::random_password();
        let gateway_port = free_port();

        // Console logs go to each instance's stderr file; no log files in the repository.
        let base_config = json!({
            "enableGinConsoleLog": true,
            "enableGinFileLog": false,
            "mgAddrs": "",
            "issuer": "seedotech",
            "audience": "movies",
        });
        let config = |extra: serde_json::Value| {
            let mut config = base_config.as_object().expect("an object").clone();
            config.extend(extra.as_object().expect("an object").clone());
            config
        };
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, OsString> {
            let mut env: HashMap<String, OsString> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
                .collect();
            env.insert("RUST_LOG".into(), "warn".into());
            env
        };
        // Both IAM instances sign with one key, so either one's tokens verify everywhere;
        // each bootstraps the same admin account in its own in-memory store.
        let user_config = config(json!({ "signingKeyFile": key_file }));
        let user_env = env(&[("PORTCULLIS_ADMIN_PASSWORD", &admin_password)]);
        // The movie instances reach the IAM through the gateway, as a deployment would.
        let movie_config = config(json!({
            "authAddr": format!("http://127.0.0.1:{gateway_port}{USERS}"),
        }));
        let movie_env = env(&[]);
        let users: Vec<Service> = (1..=2)
            .map(|n| {
                ServiceSpec {
                    example: "user_service",
                    instance_id: format!("users-{n}"),
                    config: user_config.clone(),
                    env: user_env.clone(),
                }
                .start(dir.path())
            })
            .collect();
        let movies: Vec<Service> = (1..=3)
            .map(|n| {
                ServiceSpec {
                    example: "movie_service",
                    instance_id: format!("movies-{n}"),
                    config: movie_config.clone(),
                    env: movie_env.clone(),
                }
                .start(dir.path())
            })
            .collect();
        let nginx = Nginx::start(
            nginx_binary,
            gateway_port,
            &users.iter().map(Service::addr).collect::<Vec<_>>(),
            &movies.iter().map(Service::addr).collect::<Vec<_>>(),
            &dir,
        );
        Self {
            nginx,
            users,
            movies,
            admin_password,
            _dir: dir,
        }
    }

    fn gateway(&self, path: &str) -> String {
        format!("{}{path}", self.nginx.base_url())
    }
}

async fn run(nginx_binary: &Path) {
    let mut phase = Phase::start("start 2 IAM + 3 movie instances and nginx");
    let mut stack = tokio::task::block_in_place(|| Stack::start(nginx_binary));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    phase.next("routing, prefix strip, tokens, request ids");
    routes_and_strips_prefixes(&stack, &client).await;
    phase.next("weights 3:1 and 3:1:2");
    balances_by_weight(&stack, &client).await;
    // The recommendation client runs through the gateway alongside the burst (its
    // rounds overlap the kill), then once more with the instance dead.
    phase.next("failover burst, the recommendation client alongside");
    let alongside = RecommendationRun::start(&stack, 20, 100);
    tokio::task::block_in_place(|| alongside.wait_for_first_round());
    survives_an_instance_killed_under_load(&mut stack, &client).await;
    tokio::task::block_in_place(|| alongside.finish());
    phase.next("recommendation client after the kill");
    let after = RecommendationRun::start(&stack, 3, 50);
    tokio::task::block_in_place(|| after.finish());
    phase.next("breaker client over the movie instances");
    breaker_client_skips_the_dead_instance_until_it_returns(&mut stack).await;
    phase.next("no movie instance left");
    answers_in_the_error_shape_when_no_instance_is_left(&mut stack, &client).await;
    phase.next("stop everything");
    drop(stack);
    phase.finish();
}

/// Prints how long each phase took (shown with `--nocapture`, or when the test fails).
struct Phase {
    name: &'static str,
    started: Instant,
}

impl Phase {
    fn start(name: &'static str) -> Self {
        Self {
            name,
            started: Instant::now(),
        }
    }

    fn next(&mut self, name: &'static str) {
        self.finish();
        *self = Self::start(name);
    }

    fn finish(&self) {
        println!("phase {:?} took {:?}", self.name, self.started.elapsed());
    }
}

/// `GET /seedotech.moviemanagement/api/v1/movies/list` reaches a movie instance as
/// `/api/v1/movies/list`; the login reaches an IAM instance; request ids travel.
async fn routes_and_strips_prefixes(stack: &Stack, client: &reqwest::Client) {
    let response = client
        .get(stack.gateway(&format!("{MOVIES}{MOVIE_LIST}")))
        .header("x-request-id", "gateway-test-1")
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200);
    assert!(instance_of(&response).starts_with("movies-"));
    assert_eq!(response.headers()["x-request-id"], "gateway-test-1");
    let movies: serde_json::Value = response.json().await.expect("a JSON list");
    assert!(
        movies.as_array().is_some_and(|list| !list.is_empty()),
        "the in-memory movie store is seeded: {movies}"
    );

    // Without an id from the caller, nginx makes one and passes it both ways.
    let response = client
        .get(stack.gateway(&format!("{MOVIES}/healthz")))
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii id");
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );

    // The seed's login, through the user-management prefix.
    let response = client
        .post(stack.gateway(&format!("{USERS}/api/v1/admin/auth")))
        .form(&[
            ("user", "admin"),
            ("password", stack.admin_password.as_str()),
        ])
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200, "login through the gateway");
    assert!(instance_of(&response).starts_with("users-"));
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert!(
        body["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{body}"
    );

    // Tokens from either IAM instance (one shared signing key) pass the guard of the
    // movie instances, which fetch the IAM's keys through the gateway.
    let no_token = client
        .post(stack.gateway(&format!("{MOVIES}/api/v1/movies")))
        .json(&json!({ "name": "Elephants Dream", "url": "https://orange.blender.org/" }))
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(no_token.status(), 401);
    assert!(
        no_token.headers()["www-authenticate"]
            .to_str()
            .is_ok_and(|v| v.starts_with("Bearer"))
    );
    // The movie instances started before nginx, so their first fetch of the IAM's keys
    // (through the gateway) failed; until a retry succeeds they answer 503 with
    // Retry-After, as documented. Wait for that, bounded, before judging tokens.
    let token = login(
        client,
        &format!("{}/api/v1/admin/auth", stack.users[0].base_url),
        &stack.admin_password,
    )
    .await;
    for movies in &stack.movies {
        wait_until_keys_are_loaded(client, &movies.base_url, &token).await;
    }
    for iam in &stack.users {
        let token = login(
            client,
            &format!("{}/api/v1/admin/auth", iam.base_url),
            &stack.admin_password,
        )
        .await;
        let response = client
            .post(stack.gateway(&format!("{MOVIES}/api/v1/movies")))
            .bearer_auth(token)
            .json(&json!({
                "name": format!("Elephants Dream ({})", iam.name()),
                "url": "https://orange.blender.org/",
            }))
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(
            response.status(),
            200,
            "a token of {} at {}",
            iam.name(),
            instance_of(&response)
        );
    }
    // The movie service's login proxy, itself through the gateway to the IAM.
    login(
        client,
        &stack.gateway(&format!("{MOVIES}/api/v1/login")),
        &stack.admin_password,
    )
    .await;

    // A wrong password is the IAM's 401 in the services' error shape, not a gateway error.
    let response = client
        .post(stack.gateway(&format!("{USERS}/api/v1/admin/auth")))
        .form(&[("user", "admin"), ("password", "not-the-password")])
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 401);

    // Unknown prefixes stop at the gateway.
    let response = client
        .get(stack.gateway(MOVIE_LIST))
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.expect("a JSON error");
    assert_eq!(body["code"], 1008);
}

/// Logs in as the admin at `url` (form `user`/`password`) and returns the token.
/// Polls a movie instance with a valid token and an empty body until its guard has keys:
/// the answer is then the handler's validation error instead of the guard's 503.
async fn wait_until_keys_are_loaded(client: &reqwest::Client, movies_url: &str, token: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = client
            .post(format!("{movies_url}/api/v1/movies"))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .expect("movie instance answers")
            .status();
        if status != 503 {
            assert!(status.is_client_error(), "{movies_url}: {status}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{movies_url} never loaded the IAM's keys"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn login(client: &reqwest::Client, url: &str, password: &str) -> String {
    let response = client
        .post(url)
        .form(&[("user", "admin"), ("password", password)])
        .send()
        .await
        .expect("login answers");
    assert_eq!(response.status(), 200, "login at {url}");
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    body["token"].as_str().expect("a token").to_owned()
}

/// 600 requests per service split 3:1 (users) and 3:1:2 (movies).
async fn balances_by_weight(stack: &Stack, client: &reqwest::Client) {
    let movies = shares(
        client,
        &stack.gateway(&format!("{MOVIES}{MOVIE_LIST}")),
        WEIGHT_SAMPLE,
    )
    .await;
    assert_shares(
        &movies,
        &[("movies-1", 3), ("movies-2", 1), ("movies-3", 2)],
        WEIGHT_TOLERANCE,
    );
    let users = shares(
        client,
        &stack.gateway(&format!("{USERS}/healthz")),
        WEIGHT_SAMPLE,
    )
    .await;
    assert_shares(&users, &[("users-1", 3), ("users-2", 1)], WEIGHT_TOLERANCE);
    assert_eq!(stack.users.len(), 2);
}

/// A burst from 16 clients; `movies-3` is killed with SIGKILL a third of the way in. nginx retries
/// the GETs that hit it on the other instances.
async fn survives_an_instance_killed_under_load(stack: &mut Stack, client: &reqwest::Client) {
    let victim = std::sync::Arc::new(std::sync::Mutex::new(stack.movies.remove(2)));
    let killer = victim.clone();
    let report = burst(
        client,
        &stack.gateway(&format!("{MOVIES}{MOVIE_LIST}")),
        BURST_REQUESTS,
        BURST_CONCURRENCY,
        BURST_KILL_AT,
        move || killer.lock().expect("victim lock").kill(),
    )
    .await;
    let victim = std::sync::Arc::try_unwrap(victim)
        .expect("the burst is over")
        .into_inner()
        .expect("victim lock");
    stack.movies.push(victim);

    assert_eq!(report.sent, BURST_REQUESTS);
    assert!(
        report.succeeded * 1000 >= report.sent * 999,
        "only {} of {} requests succeeded: {:?}\nnginx:\n{}",
        report.succeeded,
        report.sent,
        report.failures,
        stack.nginx.error_log()
    );
    assert!(report.before.contains_key("movies-3"), "{report:?}");
    assert!(
        !report.after.contains_key("movies-3"),
        "a dead instance answered: {report:?}"
    );
    assert!(report.after.contains_key("movies-1") && report.after.contains_key("movies-2"));
    println!(
        "failover burst: {} of {} succeeded; answers before the kill {:?}, after {:?}",
        report.succeeded, report.sent, report.before, report.after
    );
}

/// A run of the recommendation client pointed at the gateway; killed if dropped early.
struct RecommendationRun {
    child: ChildGuard,
    rounds: usize,
    stdout: Arc<Mutex<String>>,
    first_round: mpsc::Receiver<()>,
}

impl RecommendationRun {
    /// Starts `rounds` rounds, `interval_ms` apart.
    fn start(stack: &Stack, rounds: usize, interval_ms: u64) -> Self {
        let mut child = Command::new(example_binary("recommendation_client"))
            .args(["--iam", &stack.gateway(USERS)])
            .args(["--movies", &stack.gateway(MOVIES)])
            .args(["--rounds", &rounds.to_string()])
            .args(["--interval-ms", &interval_ms.to_string()])
            // argon2 in a debug build of the IAM can take over the default 1 s.
            .args(["--call-timeout-ms", "10000"])
            .env("PORTCULLIS_USER", "admin")
            .env("PORTCULLIS_PASSWORD", &stack.admin_password)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn recommendation_client");
        let pipe = child.stdout.take().expect("piped stdout");
        let stdout = Arc::new(Mutex::new(String::new()));
        let (first_round_tx, first_round) = mpsc::channel();
        let collected = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if line.starts_with("recommendation:") {
                    let _ = first_round_tx.send(());
                }
                let mut text = collected.lock().expect("stdout lock");
                text.push_str(&line);
                text.push('\n');
            }
        });
        Self {
            child: ChildGuard(Some(child)),
            rounds,
            stdout,
            first_round,
        }
    }

    /// Waits (30 s at most) until the first round has printed its recommendation.
    fn wait_for_first_round(&self) {
        assert!(
            self.first_round
                .recv_timeout(Duration::from_secs(30))
                .is_ok(),
            "recommendation_client printed no round within 30 s:\n{}",
            self.stdout.lock().expect("stdout lock")
        );
    }

    /// Waits for the exit (60 s at most): it logged in and every round recommended from
    /// a live list.
    fn finish(mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            let process = self.child.0.as_mut().expect("running");
            if let Some(status) = process.try_wait().expect("poll recommendation_client") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "recommendation_client did not finish {} rounds within 60 s",
                self.rounds
            );
            // Polling for the exit, not timing anything.
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child.0.take();
        // The reader thread ends with the pipe; a little slack for its last lines.
        let deadline = Instant::now() + Duration::from_secs(5);
        let stdout = loop {
            let stdout = self.stdout.lock().expect("stdout lock").clone();
            if stdout.contains("summary:") || Instant::now() > deadline {
                break stdout;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            status.success(),
            "recommendation_client failed ({status}):\n{stdout}"
        );
        assert!(stdout.contains("login: ok"), "{stdout}");
        assert_eq!(
            stdout.matches("source=live").count(),
            self.rounds,
            "every round from a live list:\n{stdout}"
        );
    }
}

/// The breaker's client over the three movie instances directly, `movies-3` still dead:
/// every call succeeds on the live two, spread between them; the dead one costs
/// `max_failures` refused connections, then its breaker is open and it is not called;
/// once it is back on the same port, a half-open trial closes its breaker and it answers
/// again.
async fn breaker_client_skips_the_dead_instance_until_it_returns(stack: &mut Stack) {
    const MAX_FAILURES: u32 = 2;
    const CALLS: usize = 60;
    let failures = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(AtomicUsize::new(0));
    let client = BalancedClient::builder()
        .upstreams(stack.movies.iter().map(|service| service.base_url.clone()))
        .http_client(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        )
        .breaker(
            CircuitBreaker::builder()
                .max_failures(MAX_FAILURES)
                .call_timeout(Duration::from_secs(2))
                .reset_timeout(Duration::from_secs(1))
                .max_reset_timeout(Duration::from_secs(2))
                .on_call_failure({
                    let failures = failures.clone();
                    move |_| {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .on_open({
                    let opened = opened.clone();
                    move || {
                        opened.fetch_add(1, Ordering::SeqCst);
                    }
                }),
        )
        .build()
        .expect("a balanced client");
    let dead = stack
        .movies
        .iter()
        .find(|service| service.name() == "movies-3")
        .expect("movies-3")
        .base_url
        .clone();
    let dead_breaker = || {
        client
            .upstreams()
            .find(|(url, _)| url.as_str().trim_end_matches('/') == dead)
            .map(|(_, breaker)| breaker.clone())
            .expect("a breaker for movies-3")
    };

    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    for _ in 0..CALLS {
        let response = client
            .get(MOVIE_LIST)
            .send()
            .await
            .expect("the live instances answer");
        assert_eq!(response.status(), 200);
        *answered.entry(instance_of(&response)).or_default() += 1;
    }
    let elapsed = started.elapsed();
    assert!(!answered.contains_key("movies-3"), "{answered:?}");
    for live in ["movies-1", "movies-2"] {
        assert!(
            answered.get(live).copied().unwrap_or(0) >= CALLS / 3,
            "calls not spread over the live instances: {answered:?}"
        );
    }
    // Only the dead instance fails; once its breaker opened it was not called again
    // (unless the calls outlasted the reset timeout and a trial was let through).
    assert_eq!(opened.load(Ordering::SeqCst), 1, "opened once");
    if elapsed < Duration::from_secs(1) {
        assert_eq!(failures.load(Ordering::SeqCst), MAX_FAILURES as usize);
        assert_eq!(dead_breaker().state(), State::Open);
    }

    // Back on the same port: a trial call closes the breaker and it takes calls again.
    tokio::task::block_in_place(|| {
        stack
            .movies
            .iter_mut()
            .find(|service| service.name() == "movies-3")
            .expect("movies-3")
            .restart();
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = client.get(MOVIE_LIST).send().await;
        if response.is_ok_and(|response| instance_of(&response) == "movies-3") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "movies-3 took no call within 15 s of its restart: {:?}",
            dead_breaker().snapshot()
        );
        // Polling for the half-open trial, not timing anything.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead_breaker().state(), State::Closed);
}

/// With every movie instance dead, the gateway answers 503 in the services' error shape
/// (not nginx's HTML page), with the request id.
async fn answers_in_the_error_shape_when_no_instance_is_left(
    stack: &mut Stack,
    client: &reqwest::Client,
) {
    tokio::task::block_in_place(|| stack.movies.iter_mut().for_each(Service::kill));
    let response = client
        .get(stack.gateway(&format!("{MOVIES}{MOVIE_LIST}")))
        .header("x-request-id", "gateway-test-2")
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-request-id"], "gateway-test-2");
    let body: serde_json::Value = response.json().await.expect("a JSON error");
    assert_eq!(body["code"], 1011, "{body}");
}

//! End-to-end: the circuit breakers at work between real processes.
//!
//! - The recommendation client rides out a movie service outage
//!   (`../shared/seed/seq_recommendation_service.png` plus failures): its breaker opens
//!   after the configured failures, rejects fast, the last good list is served as a
//!   fallback, and after the movie service comes back on the same port the breaker
//!   half-opens and closes. Asserted on the client's machine-readable output lines.
//! - The movie service's `/login` proxy with the IAM down: 503 in the error model within
//!   the call timeout, then fail-fast once its breaker is open.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use portcullis_examples::testing::{
    ADMIN_PASSWORD, Process, assert_error_model, example_command, free_port, http_client,
    start_movie_service, start_user_service,
};
use reqwest::StatusCode;

/// Failures that open the client's breaker in the test.
const CLIENT_MAX_FAILURES: usize = 3;
/// The client's call timeout in the test, in milliseconds.
const CLIENT_CALL_TIMEOUT_MS: u128 = 1000;
/// How long any one expected line may take to appear.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// The quoted movie name of a `recommendation:` line.
fn recommended_name(line: &str) -> &str {
    let start = line.find('"').expect("a quoted name") + 1;
    let end = start + line[start..].find('"').expect("a closing quote");
    &line[start..end]
}

/// The value of `key=` in an output line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn the_recommendation_client_rides_out_a_movie_service_outage() {
    let users = start_user_service(0);
    let mut movies = start_movie_service(0, &users.base_url, &[]);
    let movies_port = movies.port;

    let mut command = example_command("recommendation_client");
    command
        .args(["--iam", &users.base_url, "--movies", &movies.base_url])
        .args(["--rounds", "0", "--interval-ms", "100"])
        .args(["--max-failures", &CLIENT_MAX_FAILURES.to_string()])
        .args(["--call-timeout-ms", &CLIENT_CALL_TIMEOUT_MS.to_string()])
        .args(["--reset-timeout-ms", "1500"])
        .env("PORTCULLIS_USER", "admin")
        .env("PORTCULLIS_PASSWORD", ADMIN_PASSWORD);
    let mut client = Process::spawn("recommendation_client", command);

    // Log in, fetch live, recommend.
    client.wait_for_line("`login: ok`", LINE_TIMEOUT, |line| {
        line.starts_with("login: ok")
    });
    let live = client.wait_for_line("a live recommendation", LINE_TIMEOUT, |line| {
        line.starts_with("recommendation: ") && line.contains("source=live state=closed")
    });
    let live_name = recommended_name(&live).to_owned();

    // The movie service dies.
    movies.kill();

    // Failures are counted until the breaker opens; then calls are rejected without being
    // made, fast.
    let mut failures = 0;
    let rejected = loop {
        let line = client.wait_for_line("a failed or rejected call", LINE_TIMEOUT, |line| {
            line.starts_with("call: failed") || line.starts_with("call: rejected")
        });
        if line.starts_with("call: rejected") {
            break line;
        }
        failures += 1;
    };
    assert_eq!(
        failures, CLIENT_MAX_FAILURES,
        "failures before the breaker opened"
    );
    let rejected_ms: u128 = field(&rejected, "elapsed_ms")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no elapsed_ms in {rejected:?}"));
    assert!(
        rejected_ms < CLIENT_CALL_TIMEOUT_MS / 2,
        "an open breaker rejects without waiting for the call timeout: {rejected:?}"
    );
    let fallback = client.wait_for_line("a fallback recommendation", LINE_TIMEOUT, |line| {
        line.starts_with("recommendation: ") && line.contains("source=fallback state=open")
    });
    assert_eq!(
        recommended_name(&fallback),
        live_name,
        "the fallback is the last good list"
    );
    let opened = client.take_ready_lines();
    assert!(
        !opened.iter().any(|line| line.contains("source=live")),
        "nothing live while the service is down: {opened:?}"
    );

    // The movie service comes back on the same port: a half-open probe, then closed.
    let _movies = start_movie_service(movies_port, &users.base_url, &[]);
    client.wait_for_line("`breaker: state=half_open`", LINE_TIMEOUT, |line| {
        line.starts_with("breaker: state=half_open")
    });
    client.wait_for_line("`breaker: state=closed`", LINE_TIMEOUT, |line| {
        line.starts_with("breaker: state=closed")
    });
    let live_again = client.wait_for_line("a live recommendation again", LINE_TIMEOUT, |line| {
        line.starts_with("recommendation: ") && line.contains("source=live state=closed")
    });
    assert_eq!(
        recommended_name(&live_again),
        live_name,
        "same list, same pick"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_proxy_answers_503_while_the_iam_is_down_then_fails_fast() {
    // An "IAM" that accepts connections and never answers: every login call hangs until
    // the movie service's call timeout.
    let black_hole = TcpListener::bind("127.0.0.1:0").expect("bind the black hole");
    let black_hole_url = format!("http://{}", black_hole.local_addr().expect("its address"));
    let call_timeout = Duration::from_millis(1500);
    let max_failures = 2;
    let movies = start_movie_service(
        0,
        &black_hole_url,
        &[
            ("PORTCULLIS_LOGIN_CALL_TIMEOUT_MS", "1500"),
            ("PORTCULLIS_LOGIN_MAX_FAILURES", "2"),
            ("PORTCULLIS_LOGIN_RESET_TIMEOUT_MS", "60000"),
        ],
    );
    let client = http_client();

    // The public list does not need the IAM.
    let response = client
        .get(movies.url("/api/v1/movies/list"))
        .send()
        .await
        .expect("list movies");
    assert_eq!(response.status(), StatusCode::OK);

    let login = || async {
        let started = Instant::now();
        let response = client
            .post(movies.url("/api/v1/login"))
            .form(&[("user", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("send the proxied login");
        let elapsed = started.elapsed();
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("JSON body");
        (status, body, elapsed)
    };

    // Each call waits for the timeout, then 503, until the breaker opens.
    for attempt in 1..=max_failures {
        let (status, body, elapsed) = login().await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}: {body}"
        );
        assert_error_model(&body, "login while the IAM hangs");
        // It waited for the IAM (so the 503 is the timeout's, not some other failure's),
        // and no longer than the call timeout allows.
        assert!(
            elapsed + Duration::from_millis(100) >= call_timeout,
            "attempt {attempt} answered after {elapsed:?}, before the call timeout {call_timeout:?}: {body}"
        );
        assert!(
            elapsed < call_timeout + Duration::from_secs(2),
            "attempt {attempt} took {elapsed:?}, over the call timeout {call_timeout:?}"
        );
    }
    // The movie service did call the configured IAM address.
    black_hole
        .set_nonblocking(true)
        .expect("non-blocking accept");
    assert!(
        black_hole.accept().is_ok(),
        "no connection reached the IAM address"
    );
    // Open: rejected without calling the IAM.
    let (status, body, elapsed) = login().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error_model(&body, "login while the breaker is open");
    assert!(
        elapsed < call_timeout / 2,
        "an open breaker fails fast, this took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_proxy_answers_503_when_nothing_listens_at_the_iam_address() {
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let movies = start_movie_service(0, &nowhere, &[]);
    let response = http_client()
        .post(movies.url("/api/v1/login"))
        .form(&[("user", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("send the proxied login");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_error_model(
        &response.json().await.expect("JSON body"),
        "login with no IAM",
    );
}

#[test]
fn the_recommendation_client_exit_code_tells_what_went_wrong() {
    let users = start_user_service(0);
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let client = |password: &str| {
        let mut command = example_command("recommendation_client");
        command
            .args(["--iam", &users.base_url, "--movies", &nowhere])
            .args(["--rounds", "2", "--interval-ms", "10"])
            .env("PORTCULLIS_PASSWORD", password);
        Process::spawn("recommendation_client", command)
    };

    // Wrong credentials: 3, at once.
    let mut rejected = client("not the password");
    rejected.wait_for_line("`login: rejected`", LINE_TIMEOUT, |line| {
        line.starts_with("login: rejected status=401")
    });
    assert_eq!(rejected.wait_for_exit(LINE_TIMEOUT), Some(3));

    // Logged in, but no movie service ever answered: nothing to recommend, 1.
    let mut empty = client(ADMIN_PASSWORD);
    empty.wait_for_line("`login: ok`", LINE_TIMEOUT, |line| {
        line.starts_with("login: ok")
    });
    empty.wait_for_line("`recommendation: none`", LINE_TIMEOUT, |line| {
        line.starts_with("recommendation: none source=none")
    });
    empty.wait_for_line("the summary", LINE_TIMEOUT, |line| {
        line == "summary: rounds=2 live=0 fallback=0 none=2"
    });
    assert_eq!(empty.wait_for_exit(LINE_TIMEOUT), Some(1));
}

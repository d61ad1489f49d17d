//! The load-balancing client against real HTTP servers on 127.0.0.1:0.
#![cfg(feature = "reqwest")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use portcullis_circuit_breaker::client::default_classifier;
use portcullis_circuit_breaker::{
    BalancedClient, CircuitBreaker, ClientBuildError, ClientError, ConfigError, ManualClock,
    Outcome, State,
};

const LIST: &str = "/api/v1/movies/list";

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// An instance that answers `status` on the movie list and counts its hits.
async fn instance(status: StatusCode) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        LIST,
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { (status, "[]") }
        }),
    );
    (serve(app).await, hits)
}

/// A loopback address with nothing listening.
async fn dead_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn calls_spread_over_healthy_instances_and_the_failing_ones_breaker_opens() {
    let (first, first_hits) = instance(StatusCode::OK).await;
    let (second, second_hits) = instance(StatusCode::OK).await;
    let (broken, broken_hits) = instance(StatusCode::SERVICE_UNAVAILABLE).await;
    let client = BalancedClient::builder()
        .upstreams([&first, &second, &broken])
        .breaker(CircuitBreaker::builder().max_failures(2))
        .http_client(http())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(client.get(LIST).send().await.unwrap().status());
    }
    assert_eq!(
        broken_hits.load(Ordering::SeqCst),
        2,
        "two 503s trip its breaker"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == StatusCode::SERVICE_UNAVAILABLE)
            .count(),
        2,
        "5xx responses are handed back to the caller"
    );
    let (first_hits, second_hits) = (
        first_hits.load(Ordering::SeqCst),
        second_hits.load(Ordering::SeqCst),
    );
    assert_eq!(first_hits + second_hits, 28);
    assert!(
        first_hits.abs_diff(second_hits) <= 2,
        "{first_hits} vs {second_hits}"
    );
    let states: Vec<State> = client
        .upstreams()
        .map(|(_, breaker)| breaker.state())
        .collect();
    assert_eq!(states, [State::Closed, State::Closed, State::Open]);
}

#[tokio::test]
async fn weights_divide_the_traffic() {
    let (heavy, heavy_hits) = instance(StatusCode::OK).await;
    let (light, light_hits) = instance(StatusCode::OK).await;
    let client = BalancedClient::builder()
        .weighted_upstream(&heavy, 3)
        .upstream(&light)
        .http_client(http())
        .build()
        .unwrap();
    for _ in 0..40 {
        client.get(LIST).send().await.unwrap();
    }
    assert_eq!(heavy_hits.load(Ordering::SeqCst), 30);
    assert_eq!(light_hits.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn client_errors_count_as_successes_and_server_errors_as_failures() {
    let (missing, _) = instance(StatusCode::NOT_FOUND).await;
    let (broken, _) = instance(StatusCode::INTERNAL_SERVER_ERROR).await;
    for (base, expected) in [(missing, State::Closed), (broken, State::Open)] {
        let client = BalancedClient::builder()
            .upstream(&base)
            .breaker(CircuitBreaker::builder().max_failures(3))
            .http_client(http())
            .build()
            .unwrap();
        for _ in 0..3 {
            client.get(LIST).send().await.unwrap();
        }
        assert_eq!(
            client.upstreams().next().unwrap().1.state(),
            expected,
            "{base}"
        );
    }
}

/// An upstream that throttles one client (an IAM locking a login name) is working: its
/// 429s, however many, must not open the breaker for every other caller.
#[tokio::test]
async fn many_429s_in_a_row_leave_the_breaker_closed_and_the_next_request_reaches_the_upstream() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/api/v1/login",
        post(move |body: String| {
            let hit = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if body.contains("attacker") {
                    (StatusCode::TOO_MANY_REQUESTS, format!("locked {hit}"))
                } else {
                    (StatusCode::OK, "token".to_owned())
                }
            }
        }),
    );
    let base = serve(app).await;
    let client = BalancedClient::builder()
        .upstream(&base)
        .breaker(CircuitBreaker::builder().max_failures(3))
        .http_client(http())
        .build()
        .unwrap();
    for _ in 0..10 {
        let reply = client
            .post("/api/v1/login")
            .form(&[("user", "attacker")])
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let breaker = client.upstreams().next().unwrap().1;
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().failures, 0);

    let reply = client
        .post("/api/v1/login")
        .form(&[("user", "victim")])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.text().await.unwrap(), "token");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        11,
        "every request reached the upstream"
    );
}

#[tokio::test]
async fn a_5xx_upstream_still_opens_the_breaker_and_is_then_not_called() {
    let (broken, hits) = instance(StatusCode::SERVICE_UNAVAILABLE).await;
    let client = BalancedClient::builder()
        .upstream(&broken)
        .breaker(CircuitBreaker::builder().max_failures(3))
        .http_client(http())
        .build()
        .unwrap();
    for _ in 0..3 {
        let reply = client.get(LIST).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(client.upstreams().next().unwrap().1.state(), State::Open);
    let error = client.get(LIST).send().await.unwrap_err();
    assert!(matches!(error, ClientError::AllOpen { .. }), "{error:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_custom_classifier_can_count_429_against_the_instance() {
    let (throttled, _) = instance(StatusCode::TOO_MANY_REQUESTS).await;
    let client = BalancedClient::builder()
        .upstream(&throttled)
        .breaker(CircuitBreaker::builder().max_failures(2))
        .classifier(|result| match result {
            Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => Outcome::Failure,
            other => default_classifier(other),
        })
        .http_client(http())
        .build()
        .unwrap();
    for _ in 0..2 {
        client.get(LIST).send().await.unwrap();
    }
    assert_eq!(client.upstreams().next().unwrap().1.state(), State::Open);
}

#[tokio::test]
async fn a_refused_connection_fails_over_and_opens_that_instances_breaker() {
    let dead = dead_address().await;
    let (live, live_hits) = instance(StatusCode::OK).await;
    let client = BalancedClient::builder()
        .upstreams([&dead, &live])
        .breaker(CircuitBreaker::builder().max_failures(2))
        .http_client(http())
        .build()
        .unwrap();
    for _ in 0..6 {
        assert_eq!(
            client.get(LIST).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(live_hits.load(Ordering::SeqCst), 6);
    let dead_breaker = client.upstreams().next().unwrap().1.snapshot();
    assert_eq!(dead_breaker.state, State::Open);
    assert_eq!(dead_breaker.failures, 2);

    let lonely = BalancedClient::builder()
        .upstream(&dead)
        .http_client(http())
        .build()
        .unwrap();
    let error = lonely.get(LIST).send().await.unwrap_err();
    assert!(
        matches!(&error, ClientError::Request(inner) if inner.is_connect()),
        "{error:?}"
    );
}

#[tokio::test]
async fn each_instances_breaker_is_named_after_the_service_and_tells_its_listeners() {
    let dead = dead_address().await;
    let (live, _) = instance(StatusCode::OK).await;
    let changes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let opened = Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = BalancedClient::builder()
        .service_name("movies")
        .upstreams([&dead, &live])
        .breaker(
            CircuitBreaker::builder()
                .max_failures(1)
                .on_state_change({
                    let changes = changes.clone();
                    move |name, from, to| changes.lock().unwrap().push((name.to_owned(), from, to))
                })
                .on_open({
                    let opened = opened.clone();
                    move |name: &str| opened.lock().unwrap().push(name.to_owned())
                }),
        )
        .http_client(http())
        .build()
        .unwrap();
    let names: Vec<String> = client
        .upstreams()
        .map(|(_, breaker)| breaker.name().to_owned())
        .collect();
    let authority = |url: &str| url.trim_start_matches("http://").to_owned();
    assert_eq!(
        names,
        [
            format!("movies/{}", authority(&dead)),
            format!("movies/{}", authority(&live))
        ]
    );
    for _ in 0..2 {
        client.get(LIST).send().await.unwrap();
    }
    assert_eq!(
        *changes.lock().unwrap(),
        [(names[0].clone(), State::Closed, State::Open)]
    );
    assert_eq!(*opened.lock().unwrap(), [names[0].clone()]);

    let unnamed = BalancedClient::builder().upstream(&live).build().unwrap();
    let (_, breaker) = unnamed.upstreams().next().unwrap();
    assert_eq!(breaker.name(), format!("upstream/{}", authority(&live)));
}

#[tokio::test]
async fn when_every_instance_is_open_the_error_carries_the_soonest_retry() {
    let clock = ManualClock::new();
    let (first, _) = instance(StatusCode::BAD_GATEWAY).await;
    let (second, _) = instance(StatusCode::BAD_GATEWAY).await;
    let client = BalancedClient::builder()
        .upstreams([&first, &second])
        .breaker(
            CircuitBreaker::builder()
                .clock(clock.clone())
                .max_failures(1)
                .reset_timeout(Duration::from_secs(30)),
        )
        .http_client(http())
        .build()
        .unwrap();
    client.get(LIST).send().await.unwrap();
    clock.advance(Duration::from_secs(10));
    client.get(LIST).send().await.unwrap();
    let error = client.get(LIST).send().await.unwrap_err();
    assert!(error.is_open());
    assert!(
        matches!(error, ClientError::AllOpen { retry_in } if retry_in == Duration::from_secs(20))
    );

    clock.advance(Duration::from_secs(20));
    let trial = client.get(LIST).send().await.unwrap();
    assert_eq!(
        trial.status(),
        StatusCode::BAD_GATEWAY,
        "the half-open instance gets a trial"
    );
}

#[tokio::test]
async fn json_and_form_bodies_headers_and_queries_reach_the_instance() {
    let app = Router::new()
        .route(
            "/api/v1/echo",
            post(|headers: HeaderMap, body: String| async move {
                let auth = headers
                    .get("authorization")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                let kind = headers
                    .get("content-type")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                format!("{auth}|{kind}|{body}")
            }),
        )
        .route(
            "/prefix/api/v1/movies/list",
            get(|query: axum::extract::RawQuery| async move { query.0.unwrap_or_default() }),
        );
    let base = serve(app).await;
    let client = BalancedClient::builder()
        .upstream(&base)
        .http_client(http())
        .build()
        .unwrap();
    let echoed = client
        .post("/api/v1/echo")
        .bearer_auth("t0ken")
        .json(&serde_json::json!({"title": "Alien"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(echoed, r#"Bearer t0ken|application/json|{"title":"Alien"}"#);

    let login = client
        .post("/api/v1/echo")
        .header("authorization", "Basic x")
        .form(&[("username", "admin"), ("password", "p&ss")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        login,
        "Basic x|application/x-www-form-urlencoded|username=admin&password=p%26ss"
    );

    let prefixed = BalancedClient::builder()
        .upstream(format!("{base}/prefix"))
        .http_client(http())
        .build()
        .unwrap();
    let query = prefixed
        .get("api/v1/movies/list?page=2")
        .query(&[("size", "10")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(query, "page=2&size=10");
}

#[tokio::test]
async fn urls_on_one_origin_share_a_breaker_and_bad_urls_are_refused() {
    let (base, _) = instance(StatusCode::INTERNAL_SERVER_ERROR).await;
    let client = BalancedClient::builder()
        .upstream(&base)
        .upstream(format!("{base}/"))
        .breaker(CircuitBreaker::builder().max_failures(2))
        .http_client(http())
        .build()
        .unwrap();
    client.get(LIST).send().await.unwrap();
    client.get(LIST).send().await.unwrap();
    assert!(
        client
            .upstreams()
            .all(|(_, breaker)| breaker.state() == State::Open)
    );

    for bad in ["not a url", "ftp://127.0.0.1/", "http://127.0.0.1:1/?q=1"] {
        let error = BalancedClient::builder().upstream(bad).build().unwrap_err();
        assert!(
            matches!(error, ClientBuildError::InvalidUpstream { .. }),
            "{bad}"
        );
    }
    let zero_weight = BalancedClient::builder()
        .weighted_upstream(&base, 0)
        .build()
        .unwrap_err();
    assert!(matches!(
        zero_weight,
        ClientBuildError::InvalidUpstream { .. }
    ));
    assert_eq!(
        BalancedClient::builder().build().unwrap_err(),
        ClientBuildError::NoUpstream
    );
}

#[test]
fn a_breaker_setting_out_of_range_is_a_build_error_of_the_client() {
    let error = BalancedClient::builder()
        .upstream("http://127.0.0.1:8808")
        .breaker(
            CircuitBreaker::builder()
                .reset_timeout(Duration::from_secs(60))
                .max_reset_timeout(Duration::from_secs(10)),
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientBuildError::Breaker(ConfigError::MaxResetTimeout { .. })
        ),
        "{error:?}"
    );
}

/// The `outgoing_headers` hook runs on every attempt, after the request's own headers,
/// and again on the attempt that fails over to another instance.
#[tokio::test]
async fn the_outgoing_headers_hook_runs_on_every_attempt() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let app = Router::new().route(
        LIST,
        get(move |headers: HeaderMap| {
            let value = headers
                .get_all("x-attempt")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join("|");
            record.lock().unwrap().push(value);
            async { "[]" }
        }),
    );
    let live = serve(app).await;
    let dead = dead_address().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let client = BalancedClient::builder()
        .upstreams([&dead, &live])
        .http_client(http())
        .outgoing_headers(move |headers| {
            let attempt = counter.fetch_add(1, Ordering::SeqCst);
            headers.insert("x-attempt", attempt.to_string().parse().unwrap());
        })
        .build()
        .unwrap();
    let response = client
        .get(LIST)
        .header("x-attempt", "set-by-the-caller")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the dead instance, then the live one"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["1"],
        "the hook's value replaced the caller's"
    );
}

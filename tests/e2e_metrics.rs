//! End-to-end: each service serves `GET /metrics` in the Prometheus text format, outside
//! the token guard, with its HTTP requests counted by route template (never the raw path),
//! and the movie service with its login breaker's and token guard's families after the
//! seed's flow.

use portcullis_examples::testing::{
    ADMIN_PASSWORD, Service, Stack, example_command, free_port, http_client,
};

#[tokio::test]
async fn each_service_serves_its_metrics_by_route_template() {
    let stack = Stack::start();
    let client = http_client();
    for path in [
        "/api/v1/movies/list",
        "/api/v1/movies/6b0a86658bdfd50b60a1ac3a",
    ] {
        client.get(stack.movies.url(path)).send().await.unwrap();
    }
    client
        .get(stack.users.url("/healthz"))
        .send()
        .await
        .unwrap();
    // The seed's flow through the movie service: a login (the breaker), a guarded write
    // with a good token and one with a bad token (the guard).
    let login = client
        .post(stack.movies.url("/api/v1/login"))
        .form(&[("user", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for bearer in [token.as_str(), "not-a-token"] {
        client
            .post(stack.movies.url("/api/v1/movies"))
            .bearer_auth(bearer)
            .json(&serde_json::json!({"name": "Elephants Dream", "url": "https://orange.blender.org/"}))
            .send()
            .await
            .unwrap();
    }
    for service in [&stack.movies, &stack.users] {
        let response = client.get(service.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200, "no token needed");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains("# TYPE portcullis_http_requests_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE portcullis_http_request_duration_seconds histogram"),
            "{text}"
        );
        if service.name() == "movie_service" {
            assert!(
                text.contains(r#"portcullis_http_requests_total{method="GET",route="/api/v1/movies/list",status="2xx"} 1"#),
                "{text}"
            );
            assert!(
                text.contains(r#"route="/api/v1/movies/{id}",status="4xx""#),
                "the template, not the id: {text}"
            );
            assert!(!text.contains("6b0a86658bdfd50b60a1ac3a"), "{text}");
            let iam = stack.users.base_url.trim_start_matches("http://");
            for family in [
                format!(
                    r#"portcullis_breaker_calls_total{{breaker="user_service/{iam}",outcome="success"}} 1"#
                ),
                format!(r#"portcullis_breaker_state{{breaker="user_service/{iam}"}} 0"#),
                "portcullis_guard_requests_total{result=\"accepted\"} 1".to_owned(),
                r#"portcullis_guard_requests_total{result="rejected",reason="malformed"} 1"#
                    .to_owned(),
                r#"portcullis_guard_jwks_fetches_total{result="ok"}"#.to_owned(),
                "portcullis_guard_token_cache_total".to_owned(),
            ] {
                assert!(text.contains(&family), "{family} missing:\n{text}");
            }
        }
    }
}

/// The metric names (families) that the Grafana dashboard's queries read, with the
/// histogram series suffixes taken off.
fn dashboard_metric_names() -> std::collections::BTreeSet<String> {
    let path = format!(
        "{}/docs/deploy/grafana/portcullis.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"));
    let mut names = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("portcullis_") {
                    let family = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|suffix| word.strip_suffix(suffix))
                        .unwrap_or(word);
                    names.insert(family.to_owned());
                }
            }
        }
    }
    names
}

/// The families in a Prometheus text exposition that hold at least one sample.
fn exported_families(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with("# TYPE "))
        .filter_map(|line| line.split_whitespace().nth(2))
        .filter(|family| {
            text.lines()
                .any(|line| !line.starts_with('#') && line.starts_with(family))
        })
        .map(str::to_owned)
        .collect()
}

/// Every metric the Grafana dashboard (docs/deploy/grafana/portcullis.json) queries is one
/// that the services export, once the seed's flow, a throttled login, a refused token
/// request and an IAM outage (which opens the movie service's breaker) have run.
#[tokio::test]
async fn the_dashboard_reads_only_metrics_the_services_export() {
    let mut stack = Stack::start();
    let client = http_client();
    let wanted = dashboard_metric_names();
    assert!(
        wanted.len() >= 15,
        "the dashboard covers HTTP, breakers, guard and IAM: {wanted:?}"
    );

    let login = |user: &'static str, password: &'static str| {
        client
            .post(stack.movies.url("/api/v1/login"))
            .form(&[("user", user), ("password", password)])
            .send()
    };
    let token = login("admin", ADMIN_PASSWORD)
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .expect("the admin logs in")
        .to_owned();
    for bearer in [token.as_str(), "not-a-token"] {
        client
            .get(stack.movies.url("/api/v1/movies/list"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
    }
    // Failed logins for one name until the IAM throttles it.
    let mut throttled = false;
    for _ in 0..30 {
        let status = login("nobody", "wrong-password").await.unwrap().status();
        if status == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "the IAM throttles repeated failed logins");
    let refused = client
        .post(stack.users.url("/oauth2/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "no client authentication");
    let mut exported = exported_families(
        &client
            .get(stack.users.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );

    // The IAM goes away: the movie service's login breaker opens.
    stack.users.kill();
    let mut opened = false;
    for _ in 0..50 {
        let status = login("admin", ADMIN_PASSWORD).await.unwrap().status();
        if status == 503 {
            let text = client
                .get(stack.movies.url("/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if text.contains(r#"to="open""#) {
                opened = true;
                exported.extend(exported_families(&text));
                break;
            }
        }
    }
    assert!(opened, "the login breaker opens while the IAM is down");

    let missing: Vec<_> = wanted.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no service exports: {missing:?}\nexported: {exported:?}"
    );
}

/// `docs/deploy/prometheus.yml` scrapes `/metrics` of exactly the service instances that
/// `docs/deploy/compose.yaml` runs, at the addresses they advertise.
#[test]
fn the_prometheus_config_scrapes_every_compose_instance() {
    let read = |file: &str| {
        let path = format!("{}/docs/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        serde_norway::from_str::<serde_norway::Value>(&text)
            .unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
    };
    let prometheus = read("prometheus.yml");
    let mut scraped = std::collections::BTreeSet::new();
    for job in prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        assert_eq!(job["metrics_path"].as_str(), Some("/metrics"), "{job:?}");
        for group in job["static_configs"].as_sequence().expect("static_configs") {
            for target in group["targets"].as_sequence().expect("targets") {
                scraped.insert(format!("http://{}", target.as_str().expect("a string")));
            }
        }
    }
    let mut compose = read("compose.yaml");
    compose.apply_merge().expect("the merge keys resolve");
    let advertised: std::collections::BTreeSet<String> = compose["services"]
        .as_mapping()
        .expect("services")
        .values()
        .filter_map(|service| service["environment"]["PORTCULLIS_ADVERTISE_URL"].as_str())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        advertised.len(),
        5,
        "2 user and 3 movie instances: {advertised:?}"
    );
    assert_eq!(scraped, advertised);
}

/// With `metricsPort`, `/metrics` is served on that listener only, not beside the API.
#[tokio::test]
async fn metrics_port_moves_metrics_to_a_listener_of_their_own() {
    let metrics_port = free_port();
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PORTCULLIS_METRICS_PORT", metrics_port.to_string());
    let users = Service::start("user_service", command);
    let client = http_client();
    client.get(users.url("/healthz")).send().await.unwrap();
    let on_api = client.get(users.url("/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404, "not beside the API any more");
    let scraped = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(
        text.contains(
            r#"portcullis_http_requests_total{method="GET",route="/healthz",status="2xx"} 1"#
        ),
        "the API's requests are counted: {text}"
    );
    assert!(text.contains("portcullis_iam_signing_keys"), "{text}");
}

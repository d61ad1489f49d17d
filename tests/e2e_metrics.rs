//! End-to-end: each service serves `GET /metrics` in the Prometheus text format, outside
//! the token guard, with its HTTP requests counted by route template (never the raw path),
//! and the movie service with its login breaker's and token guard's families after the
//! seed's flow.

use portcullis_examples::testing::{ADMIN_PASSWORD, Stack, http_client};

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

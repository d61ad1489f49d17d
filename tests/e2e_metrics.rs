//! End-to-end: each service serves `GET /metrics` in the Prometheus text format, outside
//! the token guard, with its HTTP requests counted by route template (never the raw path).

use portcullis_examples::testing::{Stack, http_client};

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
        }
    }
}

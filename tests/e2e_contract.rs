//! End-to-end: what the services promise about their interface.
//!
//! - Each service's `OpenAPI` document is valid JSON, lists every route, and every route it
//!   lists is served (no 405 for a documented method); Swagger UI's `index.html` is served.
//! - Bad input on every write route the document lists (malformed JSON, wrong types, a
//!   body that is not an object, the wrong content type, a huge body, bad ids) is a 4xx
//!   in the `{code,message}` model, and the stores hold exactly what they held before.
//!
//! The write routes are taken from the `OpenAPI` document itself, so a route added later is
//! covered without touching this file (and a route missing from the document fails the
//! "lists every route" test).

use std::collections::BTreeMap;

use portcullis_examples::testing::{
    ADMIN_PASSWORD, Service, Stack, assert_error_model, http_client, login,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Where the services publish their `OpenAPI` document.
const OPENAPI_PATH: &str = "/api-docs/openapi.json";

/// The routes each service must document (method, path as in the document).
const MOVIE_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/movies/list"),
    ("post", "/api/v1/movies"),
    ("get", "/api/v1/movies/{id}"),
    ("patch", "/api/v1/movies/{id}"),
    ("delete", "/api/v1/movies/{id}"),
    ("get", "/api/v1/genres/list"),
    ("post", "/api/v1/genres"),
    ("get", "/api/v1/genres/{id}"),
    ("patch", "/api/v1/genres/{id}"),
    ("delete", "/api/v1/genres/{id}"),
    ("post", "/api/v1/login"),
];
/// Every route of the IAM's router (the document is generated from its handlers).
const USER_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/admin/auth"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users"),
    ("get", "/api/v1/users/list"),
    ("get", "/api/v1/users/detail/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users"),
    ("get", "/.well-known/jwks.json"),
];

async fn openapi(client: &reqwest::Client, service: &Service) -> Value {
    let response = client
        .get(service.url(OPENAPI_PATH))
        .send()
        .await
        .expect("fetch the OpenAPI document");
    assert_eq!(response.status(), StatusCode::OK, "GET {OPENAPI_PATH}");
    let text = response.text().await.expect("a text body");
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("the OpenAPI document is not JSON: {error}"))
}

/// Every (method, path) the document lists, lower-case methods.
fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut routes = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push((method.to_owned(), path.clone()));
            }
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_documents_list_every_route_and_swagger_ui_is_served() {
    let stack = Stack::start();
    let client = http_client();
    for (service, expected) in [(&stack.movies, MOVIE_ROUTES), (&stack.users, USER_ROUTES)] {
        let doc = openapi(&client, service).await;
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "an OpenAPI 3 document: {}",
            doc["openapi"]
        );
        let routes = documented_routes(&doc);
        for (method, path) in expected {
            assert!(
                routes.iter().any(|(m, p)| m == method && p == path),
                "{} does not document {method} {path}; it lists {routes:?}",
                service.base_url
            );
        }
        let schemas = doc["components"]["schemas"].as_object();
        for (name, schema) in schemas.into_iter().flatten() {
            for field in schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|f| f.0)
            {
                assert!(
                    !field.to_lowercase().contains("hash"),
                    "{}: schema {name} has the field {field}",
                    service.base_url
                );
            }
        }
        assert!(
            doc["components"]["securitySchemes"]
                .as_object()
                .is_some_and(|schemes| schemes.values().any(|s| s["scheme"] == "bearer")),
            "a bearer security scheme, so Swagger UI's Authorize works"
        );

        // Every documented route is routed: the method is allowed (no 405), and a path
        // without parameters exists (no 404).
        for (method, path) in &routes {
            let url = service.url(&path.replace("{id}", "ffffffffffffffffffffffff"));
            let response = client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method"),
                    url,
                )
                .send()
                .await
                .expect("send a documented route");
            assert_ne!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            if !path.contains('{') {
                assert_ne!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            }
        }

        let response = client
            .get(service.url("/swagger/index.html"))
            .send()
            .await
            .expect("fetch Swagger UI");
        assert_eq!(response.status(), StatusCode::OK);
        let page = response.text().await.expect("HTML");
        assert!(
            page.contains("swagger-ui"),
            "Swagger UI's page: {page:.200}"
        );
        // Its assets are compiled in (no CDN): the page works offline.
        for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
            assert!(
                page.contains(asset),
                "index.html loads {asset} from the service"
            );
            let response = client
                .get(service.url(&format!("/swagger/{asset}")))
                .send()
                .await
                .expect("fetch a Swagger UI asset");
            assert_eq!(response.status(), StatusCode::OK, "/swagger/{asset}");
        }
        assert!(!page.contains("://cdn"), "no asset from a CDN");
    }
}

/// The stores as the read routes show them: every documented GET route without path
/// parameters, except the operational ones, with its body.
async fn snapshot(
    client: &reqwest::Client,
    service: &Service,
    doc: &Value,
    token: &str,
) -> BTreeMap<String, Value> {
    let mut lists = BTreeMap::new();
    for (method, path) in documented_routes(doc) {
        let operational = [
            "/healthz",
            "/readyz",
            "/.well-known",
            "/swagger",
            "/api-docs",
        ]
        .iter()
        .any(|prefix| path.starts_with(prefix));
        if method != "get" || path.contains('{') || operational {
            continue;
        }
        let response = client
            .get(service.url(&path))
            .bearer_auth(token)
            .send()
            .await
            .expect("read a list");
        if response.status() == StatusCode::OK {
            lists.insert(path, response.json().await.expect("a JSON list"));
        }
    }
    assert!(
        !lists.is_empty(),
        "no readable list on {}",
        service.base_url
    );
    lists
}

/// An id that exists, from the list route nearest to `path` (`/a/b/{id}` -> `/a/b/list`).
fn existing_id(lists: &BTreeMap<String, Value>, path: &str) -> Option<String> {
    let prefix = &path[..path.find('{')?];
    let list = lists
        .get(&format!("{prefix}list"))
        .or_else(|| lists.get(prefix.trim_end_matches('/')))?;
    list.as_array()?.first()?["id"].as_str().map(str::to_owned)
}

/// A bad request and what it is, for the failure message.
struct Case {
    what: String,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

fn cases_for(method: &str, path: &str, existing: Option<&str>) -> Vec<Case> {
    let mut paths = Vec::new();
    if path.contains("{id}") {
        for bad in [
            "not-an-id",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
            "ffffffffffffffffffffffff",
            "-1",
            &"9".repeat(300),
        ] {
            paths.push((format!("bad id {bad:.20}"), path.replace("{id}", bad)));
        }
        if let Some(id) = existing {
            paths.push(("an existing id".to_owned(), path.replace("{id}", id)));
        }
    } else {
        paths.push((String::new(), path.to_owned()));
    }

    let huge = serde_json::to_vec(&json!({"name": "x".repeat(3 * 1024 * 1024), "password": "y"}))
        .expect("JSON");
    let wrong_types = json!({
        "id": 7, "name": 42, "url": ["x"], "coverImage": {}, "description": true,
        "user": 1, "password": 2, "role": [], "roles": "admin"
    });
    let bodies: Vec<(&str, Option<&'static str>, Vec<u8>)> = vec![
        (
            "malformed JSON",
            Some("application/json"),
            b"{\"name\": \"half".to_vec(),
        ),
        (
            "wrong types",
            Some("application/json"),
            wrong_types.to_string().into_bytes(),
        ),
        (
            "not an object",
            Some("application/json"),
            b"[1, 2, 3]".to_vec(),
        ),
        ("empty object", Some("application/json"), b"{}".to_vec()),
        ("wrong content type", Some("text/plain"), b"name=x".to_vec()),
        (
            "bad form encoding",
            Some("application/x-www-form-urlencoded"),
            b"user=%ZZ&password=%".to_vec(),
        ),
        (
            "form without a password",
            Some("application/x-www-form-urlencoded"),
            b"user=admin".to_vec(),
        ),
        ("huge body", Some("application/json"), huge),
    ];

    let mut cases = Vec::new();
    for (path_what, path) in paths {
        let is_existing = path_what == "an existing id";
        if method == "delete" {
            if !is_existing {
                cases.push(Case {
                    what: path_what,
                    path,
                    content_type: None,
                    body: Vec::new(),
                });
            }
            continue;
        }
        for (body_what, content_type, body) in &bodies {
            if is_existing && *body_what == "empty object" {
                // An empty patch of an existing resource is a valid no-op.
                continue;
            }
            // With a bad id a valid body is not needed to get a 4xx, but a bad one must
            // not turn it into a 5xx either.
            cases.push(Case {
                what: format!("{body_what} {path_what}").trim().to_owned(),
                path: path.clone(),
                content_type: *content_type,
                body: body.clone(),
            });
        }
    }
    cases
}

/// Sends one bad request with the administrator's `token`; the status and body.
async fn send_case(
    client: &reqwest::Client,
    service: &Service,
    method: &str,
    case: Case,
    token: &str,
) -> (StatusCode, Vec<u8>) {
    let method = method.to_uppercase();
    if case.what.starts_with("huge body") {
        // Rejected before it is read: see `raw_request`.
        let base_url = service.base_url.clone();
        let authorization = format!("Bearer {token}");
        let content_type = case.content_type.unwrap_or("application/json");
        let (status, body) = tokio::task::spawn_blocking(move || {
            portcullis_examples::testing::raw_request(
                &base_url,
                &method,
                &case.path,
                &[
                    ("authorization", &authorization),
                    ("content-type", content_type),
                ],
                case.body,
            )
        })
        .await
        .expect("the raw request thread");
        return (StatusCode::from_u16(status).expect("a status"), body);
    }
    let mut request = client
        .request(
            Method::from_bytes(method.as_bytes()).expect("a method"),
            service.url(&case.path),
        )
        .bearer_auth(token);
    if let Some(content_type) = case.content_type {
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(case.body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("{method} {}: {error:?}", case.path));
    let status = response.status();
    let body = response.bytes().await.expect("read the body");
    (status, body.to_vec())
}

async fn bad_input_leaves_the_store_unchanged(
    client: &reqwest::Client,
    service: &Service,
    token: &str,
) {
    let doc = openapi(client, service).await;
    let before = snapshot(client, service, &doc, token).await;
    let mut checked = 0;
    for (method, path) in documented_routes(&doc) {
        if !matches!(method.as_str(), "post" | "put" | "patch" | "delete") {
            continue;
        }
        for case in cases_for(&method, &path, existing_id(&before, &path).as_deref()) {
            let context = format!(
                "{method} {} ({})",
                case.path.chars().take(80).collect::<String>(),
                case.what
            );
            let (status, body) = send_case(client, service, &method, case, token).await;
            assert!(
                status.is_client_error(),
                "{context}: expected a 4xx, got {status}"
            );
            // The token is the administrator's: a 401/403 here would mean the input was
            // never looked at, and the test would prove nothing. Login routes may say 401.
            let login_route = path.contains("/auth") || path.contains("/login");
            assert!(
                login_route || !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                "{context}: {status}: the administrator's token was refused"
            );
            let body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                panic!("{context}: not JSON: {}", String::from_utf8_lossy(&body))
            });
            assert_error_model(&body, &context);
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "no write route documented on {}",
        service.base_url
    );
    let after = snapshot(client, service, &doc, token).await;
    assert_eq!(
        before, after,
        "bad input changed a store on {}",
        service.base_url
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_every_write_route_is_a_4xx_in_the_model_and_changes_nothing() {
    let stack = Stack::start();
    let client = http_client();
    let token = login(
        &client,
        &stack.users.url("/api/v1/admin/auth"),
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    bad_input_leaves_the_store_unchanged(&client, &stack.movies, &token).await;
    bad_input_leaves_the_store_unchanged(&client, &stack.users, &token).await;
}

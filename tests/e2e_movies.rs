//! End-to-end: the movie service's resources over real HTTP, against the real IAM.
//!
//! - Writes need the role `admin` (a user) or the scope `movies:write` (a client token);
//!   a signed-in user without either gets 403.
//! - A JSON array where an object is documented is 422, on `POST` and `PATCH`.
//! - Lists are paged: `limit`/`offset`, the total in `X-Total-Count`; a `limit` over the
//!   documented maximum or an `offset` beyond the store's 64-bit range is 400, never
//!   silently accepted, on the memory store and on `MongoDB`.

use std::time::{SystemTime, UNIX_EPOCH};

use portcullis::guard::jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use portcullis::iam::SigningKey;
use portcullis_examples::testing::{
    ADMIN_PASSWORD, ISSUER, Service, TempDir, assert_error_model, example_command, http_client,
    login, start_movie_service,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The IAM with a signing key the test knows (so it can mint client tokens), and a movie
/// service that trusts it, with `movie_env` added to the movie service's environment.
struct Setup {
    users: Service,
    movies: Service,
    key: SigningKey,
    _dir: TempDir,
}

impl Setup {
    fn start(movie_env: &[(&str, &str)]) -> Self {
        let dir = TempDir::new("e2e-movies");
        let key = SigningKey::generate_ed25519();
        let key_file = dir.path().join("signing-key.pem");
        std::fs::write(&key_file, key.to_pkcs8_pem().expect("an Ed25519 key")).unwrap();
        let mut command = example_command("user_service");
        command
            .env("PORTCULLIS_PORT", "0")
            .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("PORTCULLIS_SIGNING_KEY_FILE", &key_file);
        let users = Service::start("user_service", command);
        let movies = start_movie_service(0, &users.base_url, movie_env);
        Self {
            users,
            movies,
            key,
            _dir: dir,
        }
    }

    async fn admin_token(&self, client: &reqwest::Client) -> String {
        let url = self.users.url("/api/v1/admin/auth");
        login(client, &url, "admin", ADMIN_PASSWORD).await
    }

    /// A client token as the IAM's key signs it: no user role, only `scope`, with the
    /// test services' issuer and the default audience.
    fn client_token(&self, scope: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "sub": "report-generator", "scope": scope,
            "iss": ISSUER, "aud": "movies",
            "iat": now, "nbf": now, "exp": now + 300,
        });
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid().to_owned());
        header.typ = Some("at+jwt".to_owned());
        let pem = self.key.to_pkcs8_pem().unwrap();
        encode(
            &header,
            &claims,
            &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

async fn send(
    client: &reqwest::Client,
    method: Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn genre(name: &str) -> Value {
    json!({ "name": name, "description": "Added by e2e_movies." })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_admin_role_or_the_write_scope() {
    let setup = Setup::start(&[]);
    let client = http_client();
    let admin = setup.admin_token(&client).await;
    let genres = setup.movies.url("/api/v1/genres");

    // A user without the admin role.
    let (status, _, _) = send(
        &client,
        Method::POST,
        setup.users.url("/api/v1/users"),
        Some(&admin),
        Some(json!({"name": "viewer", "password": "a long viewer password", "roles": ["viewer"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let viewer = login(
        &client,
        &setup.users.url("/api/v1/admin/auth"),
        "viewer",
        "a long viewer password",
    )
    .await;
    let reader = setup.client_token("movies:read");
    for token in [&viewer, &reader] {
        let (status, headers, body) = send(
            &client,
            Method::POST,
            genres.clone(),
            Some(token),
            Some(genre("Refused")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_error_model(&body, "a write without the role or scope");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
    }

    // The admin and a client with the scope may add, change and delete.
    let writer = setup.client_token("movies:read movies:write");
    for token in [&admin, &writer] {
        let (status, _, added) = send(
            &client,
            Method::POST,
            genres.clone(),
            Some(token),
            Some(genre("Allowed")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{added}");
        let one = setup
            .movies
            .url(&format!("/api/v1/genres/{}", added["id"].as_str().unwrap()));
        let (status, _, patched) = send(
            &client,
            Method::PATCH,
            one.clone(),
            Some(token),
            Some(json!({"name": "Renamed"})),
        )
        .await;
        assert_eq!(
            (status, &patched["name"]),
            (StatusCode::OK, &json!("Renamed"))
        );
        let (status, _, _) = send(&client, Method::DELETE, one, Some(token), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, headers, _) = send(&client, Method::GET, format!("{genres}/list"), None, None).await;
    assert_eq!(
        headers["x-total-count"], "2",
        "only the seeded genres are left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_where_an_object_is_documented_is_422() {
    let setup = Setup::start(&[]);
    let client = http_client();
    let admin = setup.admin_token(&client).await;
    let seeded = setup.movies.url("/api/v1/movies/5eed00000000000000000001");
    for (method, url) in [
        (Method::POST, setup.movies.url("/api/v1/movies")),
        (Method::PATCH, seeded.clone()),
        (Method::POST, setup.movies.url("/api/v1/genres")),
    ] {
        for body in [json!([]), json!(["Renamed", "https://a.example/"])] {
            let (status, _, reply) = send(
                &client,
                method.clone(),
                url.clone(),
                Some(&admin),
                Some(body),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {url}: {reply}"
            );
            assert_error_model(&reply, "an array body");
        }
    }
    let (_, _, movie) = send(&client, Method::GET, seeded, None, None).await;
    assert_eq!(movie["name"], "Big Buck Bunny", "unchanged");
}

/// Adds `count` movies, then checks paging, the total header and the range checks.
async fn paging_and_ranges(setup: &Setup, count: usize) {
    let client = http_client();
    let admin = setup.admin_token(&client).await;
    let list = setup.movies.url("/api/v1/movies/list");
    let (_, headers, _) = send(&client, Method::GET, list.clone(), None, None).await;
    let before: usize = headers["x-total-count"].to_str().unwrap().parse().unwrap();
    for i in 0..count {
        let movie = json!({"name": format!("Paged {i}"), "url": "https://movies.example/paged"});
        let (status, _, body) = send(
            &client,
            Method::POST,
            setup.movies.url("/api/v1/movies"),
            Some(&admin),
            Some(movie),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let total = before + count;

    let (status, headers, page) = send(
        &client,
        Method::GET,
        format!("{list}?offset={}&limit=2", before + 1),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-total-count"], total.to_string().as_str());
    let names: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Paged 1", "Paged 2"]);

    let (_, headers, page) =
        send(&client, Method::GET, format!("{list}?limit=1"), None, None).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(headers["x-total-count"], total.to_string().as_str());
    let (status, _, page) = send(
        &client,
        Method::GET,
        format!("{list}?offset=9223372036854775807&limit=1000"),
        None,
        None,
    )
    .await;
    assert_eq!((status, page), (StatusCode::OK, json!([])));

    for query in [
        "limit=1001",
        "limit=2147483648",
        "limit=0",
        "offset=9223372036854775808",
        "offset=18446744073709551615",
        "offset=18446744073709551616",
        "offset=-1",
    ] {
        for resource in ["movies", "genres"] {
            let url = setup
                .movies
                .url(&format!("/api/v1/{resource}/list?{query}"));
            let (status, _, body) = send(&client, Method::GET, url, None, None).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{resource} {query}: {body}"
            );
            assert_error_model(&body, query);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_paged_and_out_of_range_values_are_400_on_the_memory_store() {
    let setup = Setup::start(&[]);
    paging_and_ranges(&setup, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn lists_are_paged_and_out_of_range_values_are_400_on_mongodb() {
    let uri = match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => panic!(
            "MONGODB_URI is not set: `export \"$(scripts/mongo-test-server start)\"` \
             (after `scripts/mongo-test-server install`)"
        ),
    };
    // A database of this run only, so earlier runs' movies do not count.
    let database = format!(
        "e2e_movies_{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let setup = Setup::start(&[("MONGODB_URI", &uri), ("PORTCULLIS_MG_DB_NAME", &database)]);
    paging_and_ranges(&setup, 4).await;
}

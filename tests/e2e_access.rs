//! End-to-end: the seed's access flow (`../shared/seed/seq_access_resource.png`) against
//! the real user and movie services, and their `OpenAPI` documents and Swagger UI.
//!
//! The services are the example binaries, started as processes on loopback ports.

use portcullis_examples::testing::{
    ADMIN_PASSWORD, Service, Stack, assert_error_model, http_client, login,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn movie(name: &str) -> Value {
    json!({
        "name": name,
        "url": "https://movies.example.org/e2e",
        "coverImage": "https://movies.example.org/e2e/cover.jpg",
        "description": "Added by the end-to-end access flow."
    })
}

async fn movie_names(client: &reqwest::Client, movies: &Service) -> Vec<String> {
    let response = client
        .get(movies.url("/api/v1/movies/list"))
        .send()
        .await
        .expect("list movies");
    assert_eq!(response.status(), StatusCode::OK);
    let list: Vec<Value> = response.json().await.expect("the list is a JSON array");
    list.iter()
        .map(|movie| {
            movie["name"]
                .as_str()
                .expect("every movie has a name")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_access_flow_works_at_the_iam_and_through_the_login_proxy() {
    let stack = Stack::start();
    let client = http_client();
    let add_url = stack.movies.url("/api/v1/movies");

    // 1-4: the protected call without a token is turned away, with the bearer challenge.
    let response = client
        .post(&add_url)
        .json(&movie("E2E direct login"))
        .send()
        .await
        .expect("send the anonymous add");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .expect("a 401 carries WWW-Authenticate")
        .to_str()
        .expect("an ASCII challenge")
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "challenge {challenge:?}");
    assert_error_model(&response.json().await.expect("JSON body"), "anonymous add");

    // 5-14: log in at the IAM; a wrong password is a 401 in the model.
    let response = client
        .post(stack.users.url("/api/v1/admin/auth"))
        .form(&[("user", "admin"), ("password", "not the password")])
        .send()
        .await
        .expect("send the bad login");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("JSON body");
    assert_error_model(&body, "bad login");
    assert!(
        !body.to_string().contains("not the password"),
        "the password is echoed: {body}"
    );
    let token = login(
        &client,
        &stack.users.url("/api/v1/admin/auth"),
        "admin",
        ADMIN_PASSWORD,
    )
    .await;

    // 15-19: the same call with the token succeeds, and the movie is in the list.
    let response = client
        .post(&add_url)
        .bearer_auth(&token)
        .json(&movie("E2E direct login"))
        .send()
        .await
        .expect("send the add");
    assert!(
        response.status().is_success(),
        "add with token: {}",
        response.status()
    );
    assert!(
        movie_names(&client, &stack.movies)
            .await
            .contains(&"E2E direct login".to_owned())
    );

    // The same flow with the token from the movie service's own /login proxy.
    let response = client
        .post(stack.movies.url("/api/v1/login"))
        .form(&[("user", "admin"), ("password", "not the password")])
        .send()
        .await
        .expect("send the bad proxied login");
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the proxy passes the IAM's 401 on"
    );
    assert_error_model(
        &response.json().await.expect("JSON body"),
        "bad proxied login",
    );
    let proxied = login(
        &client,
        &stack.movies.url("/api/v1/login"),
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    let response = client
        .post(&add_url)
        .bearer_auth(&proxied)
        .json(&movie("E2E proxied login"))
        .send()
        .await
        .expect("send the add with the proxied token");
    assert!(
        response.status().is_success(),
        "add with proxied token: {}",
        response.status()
    );
    let names = movie_names(&client, &stack.movies).await;
    assert!(names.contains(&"E2E proxied login".to_owned()), "{names:?}");
    assert!(names.contains(&"E2E direct login".to_owned()), "{names:?}");

    // A token that is not the IAM's is refused like no token at all.
    // Flip a character well inside the signature (the last one may hold only padding bits).
    let mut forged = token.clone().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("still ASCII");
    let response = client
        .post(&add_url)
        .bearer_auth(forged)
        .json(&movie("E2E forged"))
        .send()
        .await
        .expect("send the forged add");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !movie_names(&client, &stack.movies)
            .await
            .contains(&"E2E forged".to_owned())
    );
}

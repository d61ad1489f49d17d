//! End-to-end: a service client of the IAM (the bootstrap client of `bootstrapClientId`)
//! gets a token with the OAuth 2.0 `client_credentials` grant (RFC 6749 section 4.4) and
//! writes to the movie service with it, by its `movies:write` scope; a wrong secret is
//! `invalid_client`, and the secret never reaches the IAM's log. The recommendation client
//! authenticates the same way (`--client-id`).

use std::time::Duration;

use portcullis_examples::testing::{
    Process, Service, example_command, http_client, start_movie_service,
};
use serde_json::{Value, json};

const CLIENT_ID: &str = "recommender";
const CLIENT_SECRET: &str = "an e2e client secret of 32 bytes or more";

#[tokio::test]
async fn a_client_token_with_the_write_scope_opens_the_movie_services_writes() {
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_BOOTSTRAP_CLIENT_ID", CLIENT_ID)
        .env("PORTCULLIS_BOOTSTRAP_CLIENT_SECRET", CLIENT_SECRET);
    let users = Service::start("user_service", command);
    let movies = start_movie_service(0, &users.base_url, &[]);
    let client = http_client();

    let token = |scope: &'static str, secret: &'static str| {
        client
            .post(users.url("/oauth2/token"))
            .basic_auth(CLIENT_ID, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
    };
    let granted = token("movies:write", CLIENT_SECRET).await.unwrap();
    assert_eq!(granted.status(), 200);
    assert_eq!(granted.headers()["cache-control"], "no-store");
    let body: Value = granted.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "movies:write");
    assert!(
        body.get("refresh_token").is_none(),
        "none for client_credentials (section 4.4.3)"
    );
    let access_token = body["access_token"].as_str().unwrap().to_owned();

    let write = client
        .post(movies.url("/api/v1/movies"))
        .bearer_auth(&access_token)
        .json(&json!({"name": "Elephants Dream", "url": "https://orange.blender.org/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 200, "{}", write.text().await.unwrap());

    // A read-only client token is refused the write: 403 insufficient_scope (RFC 6750).
    let read_only: Value = token("movies:read", CLIENT_SECRET)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = client
        .post(movies.url("/api/v1/movies"))
        .bearer_auth(read_only["access_token"].as_str().unwrap())
        .json(&json!({"name": "Sintel", "url": "https://durian.blender.org/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let wrong = token("movies:write", "not the secret").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"], "invalid_client");

    // The recommendation client as that client: one token for both rounds, live lists.
    let mut recommender = example_command("recommendation_client");
    recommender
        .env("PORTCULLIS_CLIENT_SECRET", CLIENT_SECRET)
        .args([
            "--client-id",
            CLIENT_ID,
            "--iam",
            &users.base_url,
            "--movies",
            &movies.base_url,
        ])
        .args(["--rounds", "2", "--interval-ms", "10"]);
    let mut recommender = Process::spawn("recommendation_client", recommender);
    assert_eq!(
        recommender.wait_for_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        recommender.report()
    );
    let output = recommender.report();
    assert_eq!(
        output.matches("login: ok client=recommender").count(),
        1,
        "{output}"
    );
    assert_eq!(output.matches("call: ok").count(), 2, "{output}");
    assert!(
        !output.contains(CLIENT_SECRET),
        "the client secret is printed"
    );

    let logs = users.process.report();
    assert!(!logs.contains(CLIENT_SECRET), "the client secret is logged");
    assert!(!logs.contains(&access_token), "a token is logged");
}

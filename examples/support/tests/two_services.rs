//! The two services together, in one process as `local_stack` runs them: the IAM's tokens
//! open the movie service, in HS256 mode and with `EdDSA` keys fetched over HTTP.

use axum::Router;
use axum::body::{Body, to_bytes};
use http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use portcullis_examples::config::{MovieServiceConfig, Secret, UserServiceConfig};
use portcullis_examples::{movie_service, user_service};

const ADMIN_PASSWORD: &str = "a long admin password";

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(iam: &Router) -> String {
    let request = Request::post("/api/v1/admin/auth")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "user=admin&password={}",
            ADMIN_PASSWORD.replace(' ', "+")
        )))
        .unwrap();
    let (status, body) = send(iam, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn add_movie(movies: &Router, token: Option<&str>) -> StatusCode {
    let mut request =
        Request::post("/api/v1/movies").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = r#"{"name":"Elephants Dream","url":"https://orange.blender.org/"}"#;
    send(movies, request.body(Body::from(body)).unwrap())
        .await
        .0
}

fn configs() -> (UserServiceConfig, MovieServiceConfig) {
    let mut user = UserServiceConfig::default();
    user.service.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    (user, MovieServiceConfig::default())
}

#[tokio::test]
async fn in_hs256_mode_the_iams_tokens_open_the_movie_service() {
    let (mut user, mut movie) = configs();
    let secret = Secret::new("a shared jwtSecretPassword of 32 bytes or more");
    user.common.jwt_secret_password = Some(secret.clone());
    movie.common.jwt_secret_password = Some(secret);
    // Nothing listens here: HS256 needs no JWKS, and the login proxy is not used.
    movie.service.auth_addr = "http://127.0.0.1:9".to_owned();
    let iam = user_service::build(&user).await.unwrap();
    let movies = movie_service::build(&movie, None).await.unwrap();

    let token = login(&iam).await;
    assert_eq!(add_movie(&movies, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(add_movie(&movies, Some(&token)).await, StatusCode::OK);
}

#[tokio::test]
async fn eddsa_tokens_are_checked_with_the_keys_the_iam_publishes() {
    let (user, mut movie) = configs();
    let iam = user_service::build(&user).await.unwrap();
    // The movie service fetches the IAM's JWKS over HTTP, as across machines.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    movie.service.auth_addr = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, iam.clone()).into_future());
    let movies = movie_service::build(&movie, None).await.unwrap();

    let token = login(&iam).await;
    assert_eq!(add_movie(&movies, Some(&token)).await, StatusCode::OK);
    // A token signed by another IAM (another key) is refused.
    let stranger = user_service::build(&user).await.unwrap();
    let foreign = login(&stranger).await;
    assert_eq!(
        add_movie(&movies, Some(&foreign)).await,
        StatusCode::UNAUTHORIZED
    );
    server.abort();
}

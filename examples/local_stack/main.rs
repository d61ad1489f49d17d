//! The seed's system in one command: the user service (IAM) on 8808 and the movie service
//! on 8809, in one process, no database needed.
//!
//! ```sh
//! cargo run --example local_stack
//! ```
//!
//! It prints the curl lines of the seed's access flow (`../shared/seed/seq_access_resource.png`):
//! a protected call without a token (401), the login, the token, the same call with the
//! token (200), and the new movie in the list. Ctrl-C stops both services gracefully.
//!
//! Environment:
//! - `PORTCULLIS_USER_PORT`, `PORTCULLIS_MOVIE_PORT`: the ports (defaults 8808 and 8809;
//!   0 picks free ones);
//! - `PORTCULLIS_ADMIN_PASSWORD`: the first admin's password (default: the seed's
//!   `admin`/`admin`, in memory only, with a warning);
//! - everything the two services read (`config/user_service.json`,
//!   `config/movie_service.json`, `PORTCULLIS_*`, `MONGODB_URI`), except `PORTCULLIS_PORT`
//!   and `PORTCULLIS_AUTH_ADDR`, which this example sets itself.
//!
//! Next: open <http://127.0.0.1:8809/swagger/index.html>, press "Authorize", paste the
//! token, and try the admin routes (`PATCH`/`DELETE /api/v1/movies/{id}`).

#[path = "../support/mod.rs"]
mod support;

#[path = "../movie_service/app.rs"]
mod movie_app;
#[path = "../user_service/app.rs"]
mod user_app;
// The recommendation client's pure parts are unit-tested here, where `cargo test` runs
// the examples' unit tests; the client itself stays a plain binary for the e2e tests.
#[cfg(test)]
#[allow(dead_code)] // only its tests are used here
#[path = "../recommendation_client/config.rs"]
mod recommendation_config;
#[cfg(test)]
#[path = "../recommendation_client/recommend.rs"]
mod recommendation_scoring;

use std::error::Error;
use std::process::ExitCode;

use support::config::{Config, parse_listen_addr};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("local_stack: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    // 1. Each service reads its own config file and the environment, as it would alone;
    //    only the ports and the movie service's IAM address are the stack's to choose.
    let mut user_config = Config::load("user_service")?;
    let mut movie_config = Config::load("movie_service")?;
    user_config.port = std::env::var("PORTCULLIS_USER_PORT").unwrap_or_else(|_| "8808".into());
    movie_config.port = std::env::var("PORTCULLIS_MOVIE_PORT").unwrap_or_else(|_| "8809".into());
    support::logging::init(&user_config)?;

    // 2. The IAM first, serving before the movie service starts: the movie service's
    //    guard fetches the IAM's keys while it is built. Binding prints
    //    `listening on http://127.0.0.1:8808`.
    let user_listener =
        support::server::bind("user_service", parse_listen_addr(&user_config.port)?).await?;
    let user_url = format!("http://{}", user_listener.local_addr()?);
    let user_service = user_app::build(&user_config).await?;
    let user_task = tokio::spawn(support::server::serve(
        "user_service",
        user_listener,
        user_service,
    ));

    // 3. The movie service, pointed at the IAM it runs beside.
    movie_config.auth_addr.clone_from(&user_url);
    let movie_listener =
        support::server::bind("movie_service", parse_listen_addr(&movie_config.port)?).await?;
    let movie_url = format!("http://{}", movie_listener.local_addr()?);
    let movie_service = movie_app::build(&movie_config).await?;

    // 4. What to try, then serve until Ctrl-C or SIGTERM, which both services hear.
    print_flow(&user_url, &movie_url, &user_config);
    support::server::serve("movie_service", movie_listener, movie_service).await?;
    user_task.await??;
    Ok(())
}

/// Prints the seed's access flow as curl lines against the running services.
fn print_flow(user_url: &str, movie_url: &str, user_config: &Config) {
    // Which password the first admin got: never printed, only named.
    let password = if user_config.admin_password.is_some() {
        "\"$PORTCULLIS_ADMIN_PASSWORD\""
    } else if user_config.uses_mongodb() {
        "'<the password printed above at first start>'"
    } else {
        "admin"
    };
    let movie = r#"'{"name":"Elephants Dream","url":"https://orange.blender.org/"}'"#;
    println!(
        r#"
The seed's access flow (user service {user_url}, movie service {movie_url}):

# 1. A protected call without a token: 401 with WWW-Authenticate: Bearer
curl -si -X POST {movie_url}/api/v1/movies -H 'content-type: application/json' -d {movie}

# 2. Log in at the IAM (the seed's form fields); the reply holds the token
curl -s -X POST {user_url}/api/v1/admin/auth -d user=admin -d password={password}

# 3. Keep the token (or log in through the movie service's proxy: {movie_url}/api/v1/login)
TOKEN=$(curl -s -X POST {movie_url}/api/v1/login -d user=admin -d password={password} | sed -E 's/.*"token":"([^"]+)".*/\1/')

# 4. The same call with the token: 200 and the stored movie
curl -si -X POST {movie_url}/api/v1/movies -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d {movie}

# 5. The new movie is in the public list
curl -s {movie_url}/api/v1/movies/list

Swagger UI: {movie_url}/swagger/index.html and {user_url}/swagger/index.html
Ctrl-C stops both.
"#
    );
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::{Body, to_bytes};
    use http::{Request, StatusCode, header};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::support::config::Secret;

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

    fn configs() -> (Config, Config) {
        let user = Config {
            admin_password: Some(Secret::new(ADMIN_PASSWORD.to_owned())),
            ..Config::default()
        };
        (user, Config::default())
    }

    #[tokio::test]
    async fn in_the_seeds_hs256_mode_the_iams_tokens_open_the_movie_service() {
        let (mut user, mut movie) = configs();
        let secret = Secret::new("the seed's shared jwtSecretPassword, 32+ bytes".to_owned());
        user.jwt_secret_password = Some(secret.clone());
        movie.jwt_secret_password = Some(secret);
        // Nothing listens here: HS256 needs no JWKS, and the login proxy is not used.
        movie.auth_addr = "http://127.0.0.1:9".to_owned();
        let iam = user_app::build(&user).await.unwrap();
        let movies = movie_app::build(&movie).await.unwrap();

        let token = login(&iam).await;
        assert_eq!(add_movie(&movies, None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(add_movie(&movies, Some(&token)).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn eddsa_tokens_are_checked_with_the_keys_the_iam_publishes() {
        let (user, mut movie) = configs();
        let iam = user_app::build(&user).await.unwrap();
        // The movie service fetches the IAM's JWKS over HTTP, as across machines.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        movie.auth_addr = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(axum::serve(listener, iam.clone()).into_future());
        let movies = movie_app::build(&movie).await.unwrap();

        let token = login(&iam).await;
        assert_eq!(add_movie(&movies, Some(&token)).await, StatusCode::OK);
        // A token signed by another IAM (another key) is refused.
        let stranger = user_app::build(&user).await.unwrap();
        let foreign = login(&stranger).await;
        assert_eq!(
            add_movie(&movies, Some(&foreign)).await,
            StatusCode::UNAUTHORIZED
        );
        server.abort();
    }
}

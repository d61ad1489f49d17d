//! The seed's movie service (the resource service), on Portcullis.
//!
//! Run it (no database, no IAM needed; it uses an in-memory store seeded with 3 movies):
//!
//! ```sh
//! cargo run --example movie_service
//! ```
//!
//! Then try:
//!
//! ```sh
//! # Public, as in the seed.
//! curl -s http://127.0.0.1:8809/api/v1/movies/list
//! # Needs a token: 401 with WWW-Authenticate: Bearer.
//! curl -si -X POST http://127.0.0.1:8809/api/v1/movies \
//!      -H 'content-type: application/json' -d '{"name":"Elephants Dream","url":"https://orange.blender.org/"}'
//! # Log in through the service's proxy (needs the user service: `cargo run --example user_service`,
//! # or run both with `cargo run --example local_stack`). With the IAM down this is a 503
//! # at once (within 5 s if it hangs), and after 3 failures an immediate 503 while the breaker is open.
//! curl -s -X POST http://127.0.0.1:8809/api/v1/login -d user=admin -d password="$PORTCULLIS_ADMIN_PASSWORD"
//! # The API, browsable: http://127.0.0.1:8809/swagger/index.html
//! ```
//!
//! Configuration: `config/movie_service.json`, overridden by `PORTCULLIS_*` variables
//! (`PORTCULLIS_PORT`, `PORTCULLIS_AUTH_ADDR`, `PORTCULLIS_JWT_SECRET_PASSWORD`, ...) and
//! `MONGODB_URI`; see `examples/support/config.rs`.

#[path = "../support/mod.rs"]
mod support;

#[path = "app.rs"]
mod app;

use std::process::ExitCode;

use support::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    // 1. Configuration first: logging itself is configured by it.
    let config = match Config::load("movie_service") {
        Ok(config) => config,
        Err(error) => {
            eprintln!("movie_service: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = support::logging::init(&config) {
        eprintln!("movie_service: cannot open the log file: {error}");
        return ExitCode::FAILURE;
    }
    tracing::info!(source = ?config.source, auth_addr = %config.auth_addr, instance_id = %config.instance_id, "configuration loaded");
    tracing::debug!(?config, "effective configuration");

    // 2. The service: store, guard, login proxy, routes. The IAM need not be up: the
    //    guard fetches its keys on first use and the login proxy fails fast with 503.
    let app = match app::build(&config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };

    // 3. Bind (printing `listening on http://127.0.0.1:<port>`) and serve until Ctrl-C or
    //    SIGTERM; requests in flight then finish before the process exits.
    let result = async {
        let listener = support::server::bind("movie_service", config.socket_addr()?).await?;
        support::server::serve("movie_service", listener, app).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

//! The movie service (a resource service), on Portcullis: public reads, writes guarded by
//! bearer tokens (`portcullis-resource-guard`), errors in one model (`portcullis-response`),
//! and a login proxy to the IAM behind a circuit breaker (`portcullis-circuit-breaker`).
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
//! # Public, as in the original project.
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
//! `MONGODB_URI`; see `examples/support/src/config/`. The service itself is built in
//! `examples/support/src/movie_service/` (the `portcullis-examples` crate).

use std::process::ExitCode;

use portcullis_examples::config::MovieServiceConfig;
use portcullis_examples::registry::{self, announce};
use portcullis_examples::{logging, movie_service};

#[tokio::main]
async fn main() -> ExitCode {
    // 1. Configuration first: logging itself is configured by it. The effective
    //    configuration is logged whole, secrets shown as "<redacted>".
    let config = match MovieServiceConfig::load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("movie_service: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = logging::init(config.service_name(), &config.common) {
        eprintln!("movie_service: cannot start logging: {error}");
        return ExitCode::FAILURE;
    }
    tracing::info!(?config, "effective configuration");

    // 2. The service registry, when `registryAddrs` names etcd endpoints: this instance
    //    announces itself there once ready, and finds the IAM there.
    let registry = match registry::connect(&config.common) {
        Ok(registry) => registry,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };

    // 3. The service: store, token guard, login proxy, routes (see
    //    `portcullis_examples::movie_service::build`). The IAM need not be up: the guard
    //    fetches its keys on first use and the login proxy fails fast with 503.
    let app = match movie_service::build(&config, registry.as_ref()).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };

    // 4. Bind (printing `listening on http://127.0.0.1:<port>`) and serve until Ctrl-C or
    //    SIGTERM. With a registry, the instance registers once its /readyz answers 200, and
    //    on the signal it leaves the registry first (callers stop picking it), then stops
    //    accepting; requests in flight finish before the process exits.
    let result = announce::serve_announced("movie_service", &config, app, registry.as_ref()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

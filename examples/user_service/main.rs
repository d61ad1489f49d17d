//! The user service (the IAM), on Portcullis: `portcullis-iam` issues tokens, manages users
//! and publishes its public keys (JWKS); `portcullis-response` shapes every error.
//!
//! Run it (no database needed; users are kept in memory):
//!
//! ```sh
//! PORTCULLIS_ADMIN_PASSWORD='a long admin password' cargo run --example user_service
//! ```
//!
//! Without `PORTCULLIS_ADMIN_PASSWORD` the in-memory store gets the original project's `admin`/`admin`
//! (with a warning in the log). Then try:
//!
//! ```sh
//! # Log in (the form fields of the original project): {"token": "<JWT>", "tokenType": "Bearer", "expiresIn": 3600}
//! TOKEN=$(curl -s -X POST http://127.0.0.1:8808/api/v1/admin/auth \
//!      -d user=admin -d password="$PORTCULLIS_ADMIN_PASSWORD" | sed 's/.*"token":"\([^"]*\)".*/\1/')
//! # Manage users with the admin's token.
//! curl -s http://127.0.0.1:8808/api/v1/users/list -H "authorization: Bearer $TOKEN"
//! curl -s -X POST http://127.0.0.1:8808/api/v1/users -H "authorization: Bearer $TOKEN" \
//!      -H 'content-type: application/json' -d '{"name":"ann","password":"correct horse battery staple"}'
//! # The public keys resource services verify tokens with.
//! curl -s http://127.0.0.1:8808/.well-known/jwks.json
//! # The API, browsable: http://127.0.0.1:8808/swagger/index.html
//! ```
//!
//! Configuration: `config/user_service.json`, overridden by `PORTCULLIS_*` variables
//! (`PORTCULLIS_PORT`, `PORTCULLIS_ISSUER`, `PORTCULLIS_JWT_SECRET_PASSWORD` for the
//! original project's HS256 mode, `PORTCULLIS_SIGNING_KEY_FILE` for a shared Ed25519 key, ...) and
//! `MONGODB_URI`; see `examples/support/src/config/`. The service itself is built in
//! `examples/support/src/user_service.rs` (the `portcullis-examples` crate).

use std::process::ExitCode;

use portcullis_examples::config::UserServiceConfig;
use portcullis_examples::registry::{self, announce};
use portcullis_examples::{logging, user_service};

#[tokio::main]
async fn main() -> ExitCode {
    // 1. Configuration first: logging itself is configured by it. The effective
    //    configuration is logged whole, secrets shown as "<redacted>".
    let config = match UserServiceConfig::load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("user_service: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = logging::init(config.service_name(), &config.common) {
        eprintln!("user_service: cannot start logging: {error}");
        return ExitCode::FAILURE;
    }
    tracing::info!(?config, "effective configuration");

    // 2. The service registry, when `registryAddrs` names etcd endpoints: this instance
    //    announces itself there once ready.
    let registry = match registry::connect(&config.common) {
        Ok(registry) => registry,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };

    // 3. The IAM: signing key, user store, first admin, routes (see
    //    `portcullis_examples::user_service::build`).
    let app = match user_service::build(&config).await {
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
    let result = announce::serve_announced("user_service", &config, app, registry.as_ref()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

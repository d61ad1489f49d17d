//! The whole system in one command: the user service (IAM) on 8808 and the movie service
//! on 8809, in one process, no database needed.
//!
//! ```sh
//! cargo run --example local_stack
//! ```
//!
//! It prints the curl lines of the access flow (docs/flows.md): a protected call without a token (401), the login, the token, the same call with the
//! token (200), and the new movie in the list. Ctrl-C stops both services gracefully.
//!
//! Environment:
//! - `PORTCULLIS_USER_PORT`, `PORTCULLIS_MOVIE_PORT`: the ports (defaults 8808 and 8809;
//!   0 picks free ones);
//! - `PORTCULLIS_ADMIN_PASSWORD`: the first admin's password (default: the original
//!   project's `admin`/`admin`, in memory only, with a warning);
//! - everything the two services read (`config/user_service.json`,
//!   `config/movie_service.json`, `PORTCULLIS_*`, `MONGODB_URI`), except `PORTCULLIS_PORT`
//!   and `PORTCULLIS_AUTH_ADDR`, which this example sets itself.
//!
//! Next: open <http://127.0.0.1:8809/swagger/index.html>, press "Authorize", paste the
//! token, and try the admin routes (`PATCH`/`DELETE /api/v1/movies/{id}`).

use std::error::Error;
use std::process::ExitCode;

use portcullis_examples::config::{MovieServiceConfig, UserServiceConfig, parse_listen_addr};
use portcullis_examples::{logging, movie_service, server, user_service};

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
    let mut user_config = UserServiceConfig::load()?;
    let mut movie_config = MovieServiceConfig::load()?;
    user_config.common.port =
        std::env::var("PORTCULLIS_USER_PORT").unwrap_or_else(|_| "8808".into());
    movie_config.common.port =
        std::env::var("PORTCULLIS_MOVIE_PORT").unwrap_or_else(|_| "8809".into());
    logging::init("local_stack", &user_config.common)?;
    tracing::info!(config = ?user_config, "user service: effective configuration");
    tracing::info!(config = ?movie_config, "movie service: effective configuration");

    // 2. The IAM first, serving before the movie service starts: the movie service's
    //    guard fetches the IAM's keys while it is built. Binding prints
    //    `listening on http://127.0.0.1:8808`.
    let user_listener =
        server::bind("user_service", parse_listen_addr(&user_config.common.port)?).await?;
    let user_url = format!("http://{}", user_listener.local_addr()?);
    let user_app = user_service::build(&user_config).await?;
    let user_task = tokio::spawn(server::serve(
        "user_service",
        user_listener,
        user_app,
        user_config.common.connection_limits(),
    ));

    // 3. The movie service, pointed at the IAM it runs beside.
    movie_config.service.auth_addr.clone_from(&user_url);
    let movie_listener = server::bind(
        "movie_service",
        parse_listen_addr(&movie_config.common.port)?,
    )
    .await?;
    let movie_url = format!("http://{}", movie_listener.local_addr()?);
    let movie_app = movie_service::build(&movie_config, None).await?;

    // 4. What to try, then serve until Ctrl-C or SIGTERM, which both services hear.
    print_flow(&user_url, &movie_url, &user_config);
    server::serve(
        "movie_service",
        movie_listener,
        movie_app,
        movie_config.common.connection_limits(),
    )
    .await?;
    user_task.await??;
    Ok(())
}

/// Prints the access flow as curl lines against the running services.
fn print_flow(user_url: &str, movie_url: &str, user_config: &UserServiceConfig) {
    // Which password the first admin got: never printed, only named.
    let password = if user_config.service.admin_password.is_some() {
        "\"$PORTCULLIS_ADMIN_PASSWORD\""
    } else if user_config.common.uses_mongodb() {
        "'<the password printed above at first start>'"
    } else {
        "admin"
    };
    let movie = r#"'{"name":"Elephants Dream","url":"https://orange.blender.org/"}'"#;
    println!(
        r#"
The access flow (user service {user_url}, movie service {movie_url}):

# 1. A protected call without a token: 401 with WWW-Authenticate: Bearer
curl -si -X POST {movie_url}/api/v1/movies -H 'content-type: application/json' -d {movie}

# 2. Log in at the IAM (form fields user and password); the reply holds the token
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

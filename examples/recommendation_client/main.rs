//! The "recommendation service" of the original project: a client that logs in at the IAM, fetches the movie
//! list with its token through a circuit breaker, and prints a recommendation, round after
//! round. When the movie service fails it shows the breaker at work: the failures counted,
//! the breaker opening, calls rejected fast, the last good list served as a fallback, the
//! half-open probe, and the breaker closing again.
//!
//! Start the services (the local stack, or each on its own), then the client:
//!
//! ```sh
//! cargo run --example local_stack          # user service on 8808, movie service on 8809
//! PORTCULLIS_PASSWORD=... cargo run --example recommendation_client -- --rounds 0
//! ```
//!
//! Stop the movie service while the client runs and watch its output; start it again and
//! watch the breaker close. Several `--movies` URLs spread the calls over instances, one
//! breaker each; a gateway URL with a path prefix works too:
//!
//! ```sh
//! cargo run --example recommendation_client -- \
//!     --iam http://127.0.0.1:7777/seedotech.usermanagement \
//!     --movies http://127.0.0.1:7777/seedotech.moviemanagement
//! ```
//!
//! As a registered OAuth 2.0 client instead of a user (the `client_credentials` grant; the
//! token is kept until shortly before it expires, and renewed once on a 401):
//!
//! ```sh
//! PORTCULLIS_CLIENT_SECRET=... cargo run --example recommendation_client -- --client-id recommender
//! ```
//!
//! A live page of the breakers, updated as they open and close (Server-Sent Events; open
//! it in a browser while you stop and start the movie service):
//!
//! ```sh
//! cargo run --example recommendation_client -- --rounds 0 --breaker-view 127.0.0.1:8810
//! # then open http://127.0.0.1:8810/breakers
//! ```
//!
//! `--help` lists every flag and its environment variable, and the exit codes.
//!
//! Output: human-readable logs on stderr (`RUST_LOG` sets the level); on stdout one
//! machine-readable line per event, in `key=value` form after a `kind:` prefix:
//!
//! ```text
//! login: ok user=admin elapsed_ms=21
//! call: ok movies=3 elapsed_ms=2 url=http://127.0.0.1:8809/api/v1/movies/list
//! recommendation: "Alien" source=live state=closed round=1
//! call: failed kind=connect elapsed_ms=0 error="..."          (the movie service died)
//! breaker: state=open upstreams=http://127.0.0.1:8809=open    (after --max-failures)
//! call: rejected kind=open elapsed_ms=0 retry_in_ms=2991      (fail fast: no call made)
//! recommendation: "Alien" source=fallback state=open round=7  (the last good list)
//! breaker: state=half_open upstreams=http://127.0.0.1:8809=half_open
//! breaker: state=closed upstreams=http://127.0.0.1:8809=closed
//! recommendation: "Alien" source=live state=closed round=12
//! summary: rounds=12 live=8 fallback=4 none=0
//! breaker_view: listening url=http://127.0.0.1:8810/breakers   (first, with --breaker-view)
//! ```

//!
//! The parts live in `portcullis_examples::recommendation` (`examples/support/src/recommendation/`):
//! the flags, the login, the breaker-guarded movie source (the `portcullis-circuit-breaker`
//! usage) and the scoring. This file runs the rounds.

use std::io::IsTerminal;
use std::process::ExitCode;

use portcullis_examples::recommendation::config::{self, Config, Parsed};
use portcullis_examples::recommendation::login::{Login, LoginError, Token};
use portcullis_examples::recommendation::movies::{Fetch, MovieSource};
use portcullis_examples::recommendation::recommend::{Movie, recommend};
use portcullis_examples::registry::{self, EtcdRegistry, RegistryTarget};
use portcullis_response::TraceContext;

/// Exit code: some round had neither a live list nor a fallback.
const EXIT_NO_RECOMMENDATION: u8 = 1;
/// Exit code: usage error.
const EXIT_USAGE: u8 = 2;
/// Exit code: the IAM rejected the credentials.
const EXIT_BAD_CREDENTIALS: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    // 1. Flags first, then `PORTCULLIS_*` variables, then defaults.
    let config = match config::parse(std::env::args().skip(1), |key| std::env::var(key).ok()) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("recommendation_client: {message}\n\n{}", config::USAGE);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // 2. Logs on stderr; stdout carries only the machine-readable lines.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    tracing::info!(?config, "starting");

    // 3. The service registry, when --registry names etcd endpoints: the IAM and the movie
    //    service instances are found there, as they come and go.
    let registry = if config.registry_addrs.is_empty() {
        None
    } else {
        let target = RegistryTarget {
            endpoints: &config.registry_addrs,
            prefix: &config.registry_prefix,
            ttl: registry::DEFAULT_TTL,
            roots: &config.tls_roots,
            allow_insecure_http: config.allow_insecure_http,
        };
        match registry::connect_to(&target) {
            Ok(registry) => Some(registry),
            Err(error) => {
                eprintln!("recommendation_client: {error}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    };

    // 4. The movie list's source: one circuit breaker per movie service instance, behind
    //    the breaker crate's load-balancing client.
    let source = match MovieSource::new(&config, registry.as_ref()) {
        Ok(source) => source,
        Err(message) => {
            eprintln!("recommendation_client: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // 5. With --breaker-view, the breakers' live page, served while the rounds run.
    if let Some(addr) = config.breaker_view {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                let local = listener.local_addr().unwrap_or(addr);
                println!("breaker_view: listening url=http://{local}/breakers");
                let app = source.breaker_view().router();
                tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, app).await {
                        tracing::error!(%error, "the breaker page stopped");
                    }
                });
            }
            Err(error) => {
                eprintln!(
                    "recommendation_client: cannot serve the breaker page on {addr}: {error}"
                );
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }

    // 6. Rounds until done or Ctrl-C.
    tokio::select! {
        code = run(&config, &source, registry.as_ref()) => code,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted");
            ExitCode::SUCCESS
        }
    }
}

/// What the rounds produced, for the summary line and the exit code.
#[derive(Debug, Default)]
struct Tally {
    rounds: u64,
    live: u64,
    fallback: u64,
    none: u64,
}

async fn run(config: &Config, source: &MovieSource, registry: Option<&EtcdRegistry>) -> ExitCode {
    let login = match Login::new(config, registry) {
        Ok(login) => login,
        Err(message) => {
            eprintln!("recommendation_client: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // With a registry, the first listing takes a moment: wait for it (bounded) so that the
    // first round does not fail for want of an instance.
    if registry.is_some() {
        let within = config.call_timeout * 2;
        if !source.wait_for_instances(within).await {
            tracing::warn!(service = %config.movie_service, "no movie service instance registered yet");
        }
        if !login.wait_for_instances(within).await {
            tracing::warn!(service = %config.iam_service, "no IAM instance registered yet");
        }
    }
    let mut token: Option<Token> = None;
    let mut last_good: Option<Vec<Movie>> = None;
    let mut tally = Tally::default();

    let mut round = 0;
    while config.rounds.is_none_or(|rounds| round < rounds) {
        round += 1;
        if round > 1 {
            tokio::time::sleep(config.interval).await;
        }
        tally.rounds += 1;
        // One W3C trace per round: its login and list calls carry the same trace id.
        let trace = TraceContext::new_root();

        // Steps 5-14 of the access flow (docs/flows.md): authenticate when there is no token
        // yet or it is about to expire. The list itself is public in the seed, so a failed
        // login does not stop the round.
        if token.as_ref().is_none_or(Token::is_expiring) {
            match trace.scope(login.token()).await {
                Ok(new_token) => token = Some(new_token),
                Err(LoginError::Rejected) => return ExitCode::from(EXIT_BAD_CREDENTIALS),
                Err(LoginError::Unavailable) => {}
            }
        }

        // Steps 15-21: the list, with the token, through the breaker.
        let mut outcome = trace
            .scope(source.fetch(token.as_ref().map(|t| t.value.as_str())))
            .await;
        if matches!(outcome, Fetch::Unauthorized) {
            // The token expired or the IAM rotated its keys: log in again, once.
            token = None;
            match trace.scope(login.token()).await {
                Ok(new_token) => {
                    token = Some(new_token);
                    outcome = trace
                        .scope(source.fetch(token.as_ref().map(|t| t.value.as_str())))
                        .await;
                }
                Err(LoginError::Rejected) => return ExitCode::from(EXIT_BAD_CREDENTIALS),
                Err(LoginError::Unavailable) => {}
            }
        }
        let state = source.state();
        let (movies, origin) = match outcome {
            Fetch::Live(movies) => {
                last_good = Some(movies);
                (last_good.as_deref(), "live")
            }
            _ => (last_good.as_deref(), "fallback"),
        };
        if let Some(movie) = movies.and_then(|movies| recommend(&config.user, movies)) {
            if origin == "live" {
                tally.live += 1;
            } else {
                tally.fallback += 1;
            }
            println!(
                "recommendation: {:?} source={origin} state={state} round={round}",
                movie.name
            );
            tracing::info!(movie = %movie.name, source = origin, "recommended");
        } else {
            tally.none += 1;
            println!("recommendation: none source=none state={state} round={round}");
            tracing::warn!("no movie list yet, live or cached: nothing to recommend");
        }
    }
    println!(
        "summary: rounds={} live={} fallback={} none={}",
        tally.rounds, tally.live, tally.fallback, tally.none
    );
    if tally.none > 0 {
        ExitCode::from(EXIT_NO_RECOMMENDATION)
    } else {
        ExitCode::SUCCESS
    }
}

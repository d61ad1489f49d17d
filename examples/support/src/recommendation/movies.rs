//! The movie list, fetched through the circuit breaker's load-balancing client
//! ([`BalancedClient`]): one breaker per movie service instance, round-robin over the
//! instances whose breaker admits calls, 5xx/429/timeouts/refused connections counted as
//! failures.
//!
//! Every breaker transition prints a `breaker:` line, every call a `call:` line.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker, ClientError, State};
use portcullis_discovery::EtcdRegistry;

use super::config::Config;
use super::elapsed_ms;
use super::recommend::Movie;
use crate::registry::follow::upstream_changes;

/// The list route, appended to each base URL (after a gateway's path prefix, if any).
const LIST_PATH: &str = "/api/v1/movies/list";

/// What one fetch gave.
#[derive(Debug)]
pub enum Fetch {
    /// A fresh list from a movie service.
    Live(Vec<Movie>),
    /// The service refused the token (401): log in again.
    Unauthorized,
    /// No list: the call failed, or every breaker is open (the call was not made).
    Unavailable,
}

/// The movie service instances, each behind its own breaker.
#[derive(Debug)]
pub struct MovieSource {
    client: BalancedClient,
}

impl MovieSource {
    /// One breaker per movie service instance, configured from `config`: the instances of
    /// `config.movie_urls`, or, given a `registry`, those of `config.movie_service` there,
    /// as they join and leave.
    pub fn new(config: &Config, registry: Option<&EtcdRegistry>) -> Result<Self, String> {
        // The listeners are shared by every instance's breaker and get no arguments, so
        // they read the instances' states back from the client once it exists.
        let built: Arc<OnceLock<BalancedClient>> = Arc::new(OnceLock::new());
        let transition = |state: &'static str| {
            let built = Arc::clone(&built);
            move || {
                let states = built.get().map(describe).unwrap_or_default();
                println!("breaker: state={state} upstreams={states}");
                match state {
                    "open" => {
                        tracing::warn!(%states, "breaker OPEN: calls to the failing instance now fail fast");
                    }
                    "half_open" => {
                        tracing::info!(%states, "breaker HALF-OPEN: a probe call goes through");
                    }
                    _ => tracing::info!(%states, "breaker CLOSED: the instance answers again"),
                }
            }
        };
        let breaker = CircuitBreaker::builder()
            .max_failures(config.max_failures)
            .call_timeout(config.call_timeout)
            .reset_timeout(config.reset_timeout)
            .on_open(transition("open"))
            .on_half_open(transition("half_open"))
            .on_close(transition("closed"));
        let http = crate::tls::http_client_builder(&config.tls_roots)
            .map_err(|error| error.to_string())?
            .connect_timeout(config.call_timeout)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        let builder = BalancedClient::builder()
            .outgoing_headers(portcullis_response::TraceContext::inject_current)
            .service_name(config.movie_service.clone())
            .breaker(breaker)
            .http_client(http);
        let client = if let Some(registry) = registry {
            let view = registry
                .watch(&config.movie_service)
                .map_err(|error| error.to_string())?;
            builder.build_with_discovery(upstream_changes(&view))
        } else {
            for url in &config.movie_urls {
                crate::tls::check_plain_http("--movies", url, config.allow_insecure_http)
                    .map_err(|error| error.to_string())?;
            }
            builder.upstreams(config.movie_urls.iter().cloned()).build()
        }
        .map_err(|error| error.to_string())?;
        // Set once, right after building: the listeners cannot have fired yet.
        let _ = built.set(client.clone());
        Ok(Self { client })
    }

    /// Waits up to `within` until at least one instance is known (with a registry, the
    /// first listing arrives shortly after start); returns whether one is.
    pub async fn wait_for_instances(&self, within: std::time::Duration) -> bool {
        crate::registry::follow::wait_for_any(&self.client, within).await
    }

    /// A live page of the instances' breakers (`--breaker-view`), instances that join
    /// later included.
    pub fn breaker_view(&self) -> crate::breaker_view::BreakerView {
        crate::breaker_view::BreakerView::new([self.client.clone()])
    }

    /// The aggregate state for the output lines: `closed` when every breaker is closed,
    /// `open` when none admits a call, `half_open` while one probes, else `degraded`.
    pub fn state(&self) -> &'static str {
        let states: Vec<State> = self.client.upstreams().map(|(_, b)| b.state()).collect();
        if states
            .iter()
            .all(|s| matches!(s, State::Closed | State::ForcedClosed))
        {
            "closed"
        } else if states
            .iter()
            .all(|s| matches!(s, State::Open | State::ForcedOpen))
        {
            "open"
        } else if states.contains(&State::HalfOpen) {
            "half_open"
        } else {
            "degraded"
        }
    }

    /// Fetches the list from the next instance whose breaker admits the call, sending
    /// `token` as a bearer token when there is one.
    pub async fn fetch(&self, token: Option<&str>) -> Fetch {
        let mut request = self.client.get(LIST_PATH);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let outcome = request.send().await;
        let elapsed = elapsed_ms(started.elapsed());
        match outcome {
            Ok(response) => {
                let status = response.status();
                let url = response.url().to_string();
                if status == reqwest::StatusCode::UNAUTHORIZED {
                    println!("call: unauthorized status=401 elapsed_ms={elapsed} url={url}");
                    return Fetch::Unauthorized;
                }
                if !status.is_success() {
                    // 5xx has already counted against the instance's breaker.
                    println!(
                        "call: failed kind=status status={} elapsed_ms={elapsed} url={url}",
                        status.as_u16()
                    );
                    return Fetch::Unavailable;
                }
                match response.json::<Vec<Movie>>().await {
                    Ok(movies) => {
                        println!(
                            "call: ok movies={} elapsed_ms={elapsed} url={url}",
                            movies.len()
                        );
                        Fetch::Live(movies)
                    }
                    Err(error) => {
                        println!("call: failed kind=body elapsed_ms={elapsed} url={url}");
                        tracing::warn!(%error, "the movie list is not the expected JSON");
                        Fetch::Unavailable
                    }
                }
            }
            Err(error) if error.is_open() => {
                let retry_in = error.retry_in().unwrap_or_default().as_millis();
                println!("call: rejected kind=open elapsed_ms={elapsed} retry_in_ms={retry_in}");
                tracing::info!(
                    retry_in_ms = retry_in,
                    "every breaker is open: not calling, serving the fallback"
                );
                Fetch::Unavailable
            }
            Err(error) => {
                let kind = match &error {
                    ClientError::Timeout { .. } => "timeout",
                    ClientError::Request(inner) if inner.is_connect() => "connect",
                    _ => "transport",
                };
                println!(
                    "call: failed kind={kind} elapsed_ms={elapsed} error={:?}",
                    error.to_string()
                );
                tracing::warn!(%error, "movie list call failed");
                Fetch::Unavailable
            }
        }
    }
}

/// `url=state,url=state` for the instances of `client`.
fn describe(client: &BalancedClient) -> String {
    client
        .upstreams()
        .map(|(url, breaker)| {
            let state = match breaker.state() {
                State::Closed | State::ForcedClosed => "closed",
                State::Open | State::ForcedOpen => "open",
                State::HalfOpen => "half_open",
                _ => "unknown",
            };
            format!("{}={state}", url.as_str().trim_end_matches('/'))
        })
        .collect::<Vec<_>>()
        .join(",")
}

//! The movie list, fetched through circuit breakers: one breaker per movie service
//! instance, round-robin over the instances whose breaker admits calls.
//!
//! Every breaker transition prints a `breaker:` line, every call a `call:` line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use portcullis_circuit_breaker::{BreakerError, CircuitBreaker, State};

use crate::config::Config;
use crate::elapsed_ms;
use crate::recommend::Movie;

/// The list route, appended to each base URL.
const LIST_PATH: &str = "/api/v1/movies/list";

/// What one fetch gave.
#[derive(Debug)]
pub(crate) enum Fetch {
    /// A fresh list from a movie service.
    Live(Vec<Movie>),
    /// The service refused the token (401): log in again.
    Unauthorized,
    /// No list: the call failed, or every breaker is open (the call was not made).
    Unavailable,
}

/// Why a call failed, as the breaker sees it.
#[derive(Debug, thiserror::Error)]
enum CallError {
    /// Connection refused or reset, or an unreadable body.
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    /// The service answered 5xx (or a gateway answered 502/503/504 for it).
    #[error("status {0}")]
    Server(reqwest::StatusCode),
}

/// One movie service instance.
#[derive(Debug)]
struct Upstream {
    list_url: String,
    breaker: CircuitBreaker,
}

/// The movie service instances, each behind its own breaker.
#[derive(Debug)]
pub(crate) struct MovieSource {
    http: reqwest::Client,
    upstreams: Vec<Upstream>,
    next: AtomicUsize,
}

impl MovieSource {
    /// One breaker per `config.movie_urls` entry, configured from `config`.
    pub(crate) fn new(config: &Config) -> Result<Self, String> {
        let upstreams = config
            .movie_urls
            .iter()
            .map(|url| {
                let (open, half_open, closed) = (url.clone(), url.clone(), url.clone());
                let breaker = CircuitBreaker::builder()
                    .max_failures(config.max_failures)
                    .call_timeout(config.call_timeout)
                    .reset_timeout(config.reset_timeout)
                    .on_open(move || {
                        println!("breaker: state=open upstream={open}");
                        tracing::warn!(upstream = %open, "breaker OPEN: calls to this instance now fail fast");
                    })
                    .on_half_open(move || {
                        println!("breaker: state=half_open upstream={half_open}");
                        tracing::info!(upstream = %half_open, "breaker HALF-OPEN: one probe call goes through");
                    })
                    .on_close(move || {
                        println!("breaker: state=closed upstream={closed}");
                        tracing::info!(upstream = %closed, "breaker CLOSED: the instance answers again");
                    })
                    .build();
                Upstream {
                    list_url: format!("{url}{LIST_PATH}"),
                    breaker,
                }
            })
            .collect();
        let http = reqwest::Client::builder()
            .connect_timeout(config.call_timeout)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Self {
            http,
            upstreams,
            next: AtomicUsize::new(0),
        })
    }

    /// The aggregate state for the output lines: `closed` when every breaker is closed,
    /// `open` when none admits a call, otherwise the state of the first non-closed one.
    pub(crate) fn state(&self) -> &'static str {
        let states: Vec<State> = self.upstreams.iter().map(|u| u.breaker.state()).collect();
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
    pub(crate) async fn fetch(&self, token: Option<&str>) -> Fetch {
        let count = self.upstreams.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let upstream = (0..count)
            .map(|offset| &self.upstreams[(start + offset) % count])
            .find(|upstream| upstream.breaker.is_call_permitted())
            // Every breaker is open: the first one rejects the call (fast) and says when
            // it will let a probe through.
            .unwrap_or(&self.upstreams[start % count]);

        let started = Instant::now();
        let outcome = upstream
            .breaker
            .call(|| async {
                let mut request = self.http.get(&upstream.list_url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await?;
                if response.status().is_server_error() {
                    return Err(CallError::Server(response.status()));
                }
                Ok(response)
            })
            .await;
        let elapsed = elapsed_ms(started.elapsed());
        let url = &upstream.list_url;
        match outcome {
            Ok(response) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
                println!("call: unauthorized status=401 elapsed_ms={elapsed} url={url}");
                Fetch::Unauthorized
            }
            Ok(response) if response.status().is_success() => {
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
            Ok(response) => {
                println!(
                    "call: failed kind=status status={} elapsed_ms={elapsed} url={url}",
                    response.status().as_u16()
                );
                Fetch::Unavailable
            }
            Err(error) => {
                let kind = match &error {
                    BreakerError::Open { .. } | BreakerError::AllOpen { .. } => {
                        let retry_in = error.retry_in().unwrap_or_default().as_millis();
                        println!(
                            "call: rejected kind=open elapsed_ms={elapsed} retry_in_ms={retry_in} url={url}"
                        );
                        tracing::info!(
                            retry_in_ms = retry_in,
                            "breaker open: not calling, serving the fallback"
                        );
                        return Fetch::Unavailable;
                    }
                    BreakerError::Timeout { .. } => "timeout",
                    BreakerError::Inner(CallError::Server(_)) => "status",
                    _ => "connect",
                };
                println!(
                    "call: failed kind={kind} elapsed_ms={elapsed} url={url} error={:?}",
                    error.to_string()
                );
                tracing::warn!(%error, "movie list call failed");
                Fetch::Unavailable
            }
        }
    }
}

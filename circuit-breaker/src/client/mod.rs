//! A load-balancing HTTP client with one circuit breaker per upstream instance: see
//! [`BalancedClient`] and, for an example, the
//! [crate docs](crate#example-load-balancing-http-client).

//!
//! One module a job: `builder` (configuration and the weighted schedule), `request` (a
//! request being built), `classify` (what a response means to a breaker), `error` (build
//! and call errors); this one picks an instance and sends.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, Url};

use crate::BreakerError;
use crate::CircuitBreaker;
use crate::breaker::{Admitted, Permit, Shared};

mod builder;
mod classify;
mod error;
mod request;

pub use builder::BalancedClientBuilder;
use classify::ResponseClassifier;
pub use classify::default_classifier;
pub use error::{ClientBuildError, ClientError};
pub use request::BalancedRequest;

/// A placeholder origin for requests being built; replaced by an instance's at send time.
const PLACEHOLDER: &str = "http://upstream.invalid/";

struct Instance {
    base: Url,
    breaker: CircuitBreaker,
}

struct ClientInner {
    http: reqwest::Client,
    classifier: ResponseClassifier,
    instances: Vec<Instance>,
    schedule: Vec<usize>,
    cursor: AtomicUsize,
    failover: bool,
}

/// An HTTP client over several instances of one service, with one circuit breaker per
/// instance and weighted round-robin over the instances that admit calls.
///
/// Cheap to clone; clones share the instances, breakers and connection pool. See the
/// [crate docs](crate#example-load-balancing-http-client) for an example.
#[derive(Clone)]
pub struct BalancedClient {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for BalancedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalancedClient")
            .field(
                "upstreams",
                &self
                    .upstreams()
                    .map(|(url, breaker)| (url.as_str(), breaker.state()))
                    .collect::<Vec<_>>(),
            )
            .field("classifier", &self.inner.classifier)
            .field("failover", &self.inner.failover)
            .finish_non_exhaustive()
    }
}

impl From<BreakerError<reqwest::Error>> for ClientError {
    fn from(error: BreakerError<reqwest::Error>) -> Self {
        match error {
            BreakerError::Open { remaining } => Self::AllOpen {
                retry_in: remaining,
            },
            BreakerError::Timeout { elapsed } => Self::Timeout { elapsed },
            BreakerError::Inner(error) => Self::Request(error),
        }
    }
}

impl BalancedClient {
    fn new(inner: ClientInner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Starts configuring a client.
    pub fn builder() -> BalancedClientBuilder {
        BalancedClientBuilder::default()
    }

    /// Each instance's base URL and breaker, in the order given.
    pub fn upstreams(&self) -> impl Iterator<Item = (&Url, &CircuitBreaker)> {
        self.inner
            .instances
            .iter()
            .map(|instance| (&instance.base, &instance.breaker))
    }

    /// Starts a request; `path` (with an optional query) is appended to the chosen
    /// instance's base URL.
    pub fn request(&self, method: Method, path: &str) -> BalancedRequest {
        let url = Url::parse(PLACEHOLDER)
            .expect("the placeholder is a valid URL")
            .join(path.trim_start_matches('/'));
        let builder = match url {
            Ok(url) => self.inner.http.request(method, url),
            // Let reqwest report the bad path as its own builder error, at `send`.
            Err(_) => self.inner.http.request(method, path),
        };
        BalancedRequest {
            client: self.clone(),
            builder,
        }
    }

    /// Starts a GET request.
    pub fn get(&self, path: &str) -> BalancedRequest {
        self.request(Method::GET, path)
    }

    /// Starts a POST request.
    pub fn post(&self, path: &str) -> BalancedRequest {
        self.request(Method::POST, path)
    }

    /// Starts a PUT request.
    pub fn put(&self, path: &str) -> BalancedRequest {
        self.request(Method::PUT, path)
    }

    /// Starts a PATCH request.
    pub fn patch(&self, path: &str) -> BalancedRequest {
        self.request(Method::PATCH, path)
    }

    /// Starts a DELETE request.
    pub fn delete(&self, path: &str) -> BalancedRequest {
        self.request(Method::DELETE, path)
    }

    /// Takes a permit from the next admitting instance not yet tried, or says how soon
    /// one will admit calls.
    fn pick(&self, tried: &[bool]) -> Result<(usize, Permit<&Shared>), Duration> {
        let inner = &*self.inner;
        let mut soonest = Duration::MAX;
        let mut checked = tried.to_vec();
        let mut try_instance = |index: usize, checked: &mut [bool]| {
            checked[index] = true;
            match Permit::admit(&*inner.instances[index].breaker.shared) {
                Ok(permit) => Some(permit),
                Err(remaining) => {
                    soonest = soonest.min(remaining);
                    None
                }
            }
        };
        // Each skipped position consumes the shared cursor, so the admitted instances keep
        // their proportions instead of the next one in line inheriting a skipped share.
        for _ in 0..inner.schedule.len() {
            let position = inner.cursor.fetch_add(1, Ordering::Relaxed) % inner.schedule.len();
            let index = inner.schedule[position];
            if !checked[index]
                && let Some(permit) = try_instance(index, &mut checked)
            {
                return Ok((index, permit));
            }
            if checked.iter().all(|done| *done) {
                return Err(soonest);
            }
        }
        // Concurrent callers moved the cursor past some instances: look at those too.
        for index in 0..inner.instances.len() {
            if !checked[index]
                && let Some(permit) = try_instance(index, &mut checked)
            {
                return Ok((index, permit));
            }
        }
        Err(soonest)
    }

    async fn send(&self, builder: RequestBuilder) -> Result<Response, ClientError> {
        let template = builder.build().map_err(ClientError::Request)?;
        let instances = self.inner.instances.len();
        let mut tried = vec![false; instances];
        let mut last_error = None;
        let mut template = Some(template);
        while let Some(pattern) = &template {
            // A streaming body cannot be replayed; then this is the only attempt.
            let copy = pattern.try_clone();
            let (index, permit) = match self.pick(&tried) {
                Ok(picked) => picked,
                Err(retry_in) => {
                    return Err(last_error.unwrap_or(ClientError::AllOpen { retry_in }));
                }
            };
            tried[index] = true;
            let Some(mut request) = copy.or_else(|| template.take()) else {
                break;
            };
            *request.url_mut() = rebase(&self.inner.instances[index].base, request.url());
            let call = self.inner.http.execute(request);
            match Admitted::new(permit, call, &self.inner.classifier).await {
                Ok(response) => return Ok(response),
                Err(BreakerError::Inner(error))
                    if error.is_connect() && self.inner.failover && template.is_some() =>
                {
                    last_error = Some(ClientError::Request(error));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(last_error.unwrap_or(ClientError::AllOpen {
            retry_in: Duration::ZERO,
        }))
    }
}

/// The instance's base URL followed by the request's path and query.
fn rebase(base: &Url, placeholder: &Url) -> Url {
    let mut url = base.clone();
    let path = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        placeholder.path().trim_start_matches('/')
    );
    url.set_path(&path);
    url.set_query(placeholder.query());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_the_base_prefix_and_the_request_query() {
        let placeholder = Url::parse("http://upstream.invalid/api/v1/movies?page=2").unwrap();
        let base = Url::parse("http://127.0.0.1:8080/movies/").unwrap();
        assert_eq!(
            rebase(&base, &placeholder).as_str(),
            "http://127.0.0.1:8080/movies/api/v1/movies?page=2"
        );
        let bare = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            rebase(&bare, &placeholder).as_str(),
            "http://127.0.0.1:8080/api/v1/movies?page=2"
        );
    }
}

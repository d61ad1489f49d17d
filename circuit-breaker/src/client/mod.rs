//! A load-balancing HTTP client with one circuit breaker per upstream instance: see
//! [`BalancedClient`] and, for an example, the
//! [crate docs](crate#example-load-balancing-http-client).

//!
//! One module a job: `builder` (configuration), `upstream` (an instance's address and
//! weight), `set` (the current instances and the weighted schedule), `follow` (applying a
//! discovery source's changes), `request` (a request being built), `classify` (what a
//! response means to a breaker), `error` (build and call errors); this one sends.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use arc_swap::ArcSwap;
use reqwest::{Method, RequestBuilder, Response, Url};
use tokio::sync::oneshot;

use crate::BreakerError;
use crate::CircuitBreaker;
use crate::breaker::Admitted;

mod builder;
mod classify;
mod error;
mod follow;
mod headers;
mod request;
mod set;
mod upstream;

pub use builder::BalancedClientBuilder;
use classify::ResponseClassifier;
pub use classify::default_classifier;
pub use error::{ClientBuildError, ClientError};
use headers::HeaderHook;
pub use request::BalancedRequest;
use set::UpstreamSet;
pub use upstream::Upstream;

/// A placeholder origin for requests being built; replaced by an instance's at send time.
const PLACEHOLDER: &str = "http://upstream.invalid/";

struct ClientInner {
    http: reqwest::Client,
    classifier: ResponseClassifier,
    /// The instances now: replaced whole by the discovery task, loaded per request.
    set: ArcSwap<UpstreamSet>,
    cursor: AtomicUsize,
    failover: bool,
    outgoing_headers: HeaderHook,
    /// Dropped with the client: stops the discovery task, if any.
    _stop_following: Option<oneshot::Sender<()>>,
}

/// An HTTP client over several instances of one service, with one circuit breaker per
/// instance and weighted round-robin over the instances that admit calls.
///
/// The instances are fixed at build time, or follow a discovery source (see
/// [`BalancedClientBuilder::build_with_discovery`]): an instance that joins gets its own
/// breaker and traffic from the next request on; one that leaves gets no new request, while
/// those in flight to it finish; the breaker of one that stays is kept.
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
                    .map(|(url, breaker)| (url.to_string(), breaker.state()))
                    .collect::<Vec<_>>(),
            )
            .field("classifier", &self.inner.classifier)
            .field("failover", &self.inner.failover)
            .field("outgoing_headers", &self.inner.outgoing_headers)
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

    /// Each current instance's base URL and breaker: the fixed ones in the order given,
    /// then the discovered ones in the order they joined.
    pub fn upstreams(&self) -> impl Iterator<Item = (Url, CircuitBreaker)> + use<> {
        let set = self.inner.set.load_full();
        (0..set.instances.len()).map(move |index| {
            let instance = &set.instances[index];
            (instance.base.clone(), instance.breaker.clone())
        })
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

    async fn send(&self, builder: RequestBuilder) -> Result<Response, ClientError> {
        let template = builder.build().map_err(ClientError::Request)?;
        // The instances tried so far (by address), so that a failover goes elsewhere.
        let mut tried: Vec<usize> = Vec::new();
        let mut last_error = None;
        let mut template = Some(template);
        while let Some(pattern) = &template {
            // A streaming body cannot be replayed; then this is the only attempt.
            let copy = pattern.try_clone();
            // The set as it is now; it keeps the chosen instance alive until the call ends,
            // even if the instance leaves meanwhile (it drains).
            let set = self.inner.set.load_full();
            if set.instances.is_empty() {
                return Err(last_error.unwrap_or(ClientError::NoInstance));
            }
            let (index, permit) = match set.pick(&self.inner.cursor, &tried) {
                Ok(picked) => picked,
                Err(retry_in) => {
                    return Err(last_error.unwrap_or(ClientError::AllOpen { retry_in }));
                }
            };
            let instance = &set.instances[index];
            tried.push(set::address(instance));
            let Some(mut request) = copy.or_else(|| template.take()) else {
                break;
            };
            *request.url_mut() = rebase(&instance.base, request.url());
            self.inner.outgoing_headers.apply(request.headers_mut());
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

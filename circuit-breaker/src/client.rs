//! A load-balancing HTTP client with one circuit breaker per upstream instance: see
//! [`BalancedClient`] and, for an example, the
//! [crate docs](crate#example-load-balancing-http-client).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use crate::breaker::Permit;
use crate::{BreakerError, CircuitBreaker, CircuitBreakerBuilder, Outcome};

/// Schedules longer than this are scaled down; it bounds memory for extreme weights.
const MAX_SCHEDULE: i64 = 4096;

/// A placeholder origin for requests being built; replaced by an instance's at send time.
const PLACEHOLDER: &str = "http://upstream.invalid/";

struct Instance {
    base: Url,
    breaker: CircuitBreaker,
}

struct ClientInner {
    http: reqwest::Client,
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
            .field("failover", &self.inner.failover)
            .finish_non_exhaustive()
    }
}

/// Configures a [`BalancedClient`].
#[derive(Debug, Clone, Default)]
pub struct BalancedClientBuilder {
    upstreams: Vec<(String, u32)>,
    breaker: CircuitBreakerBuilder,
    http: Option<reqwest::Client>,
    no_failover: bool,
}

impl BalancedClientBuilder {
    /// Adds an instance by its base URL (`http://127.0.0.1:8081`, or with a path prefix
    /// such as `http://10.0.0.5:8080/movies`), with weight 1. URLs with the same scheme,
    /// host and port share one breaker. No default: at least one is required.
    #[must_use]
    pub fn upstream(self, base_url: impl Into<String>) -> Self {
        self.weighted_upstream(base_url, 1)
    }

    /// Adds an instance that receives `weight` shares of the traffic (weights 0 count as 1).
    #[must_use]
    pub fn weighted_upstream(mut self, base_url: impl Into<String>, weight: u32) -> Self {
        self.upstreams.push((base_url.into(), weight.max(1)));
        self
    }

    /// Adds several instances with weight 1.
    #[must_use]
    pub fn upstreams<I, U>(mut self, base_urls: I) -> Self
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        self.upstreams
            .extend(base_urls.into_iter().map(|url| (url.into(), 1)));
        self
    }

    /// The configuration from which each instance's breaker is built (listeners included,
    /// shared by all). Default is `CircuitBreaker::builder()` with its defaults.
    #[must_use]
    pub fn breaker(mut self, breaker: CircuitBreakerBuilder) -> Self {
        self.breaker = breaker;
        self
    }

    /// The reqwest client that sends the requests (timeouts, TLS, pool settings are its
    /// own). Default is `reqwest::Client::new()`.
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Whether a request whose connection to an instance could not be made is retried on
    /// the next admitted instance (safe for any method: the request never left). Default is
    /// true.
    #[must_use]
    pub fn failover_on_connect_error(mut self, enabled: bool) -> Self {
        self.no_failover = !enabled;
        self
    }

    /// Builds the client; fails on an unusable or missing base URL.
    pub fn build(self) -> Result<BalancedClient, BreakerError<reqwest::Error>> {
        if self.upstreams.is_empty() {
            return Err(BreakerError::InvalidUpstream {
                url: Box::from(""),
                reason: "no upstream instance was given",
            });
        }
        let mut instances: Vec<Instance> = Vec::new();
        let mut weights = Vec::new();
        for (raw, weight) in self.upstreams {
            let invalid = |reason: &'static str| BreakerError::InvalidUpstream {
                url: raw.as_str().into(),
                reason,
            };
            let base = Url::parse(&raw).map_err(|_| invalid("not a valid absolute URL"))?;
            if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
                return Err(invalid("not an http(s) URL with a host"));
            }
            if base.query().is_some() || base.fragment().is_some() {
                return Err(invalid("a base URL takes no query or fragment"));
            }
            let origin = base.origin();
            let breaker = instances
                .iter()
                .find(|instance| instance.base.origin() == origin)
                .map_or_else(|| self.breaker.clone().build(), |same| same.breaker.clone());
            instances.push(Instance { base, breaker });
            weights.push(weight);
        }
        Ok(BalancedClient {
            inner: Arc::new(ClientInner {
                http: self.http.unwrap_or_default(),
                schedule: smooth_weighted_schedule(&weights),
                instances,
                cursor: AtomicUsize::new(0),
                failover: !self.no_failover,
            }),
        })
    }
}

/// Nginx's smooth weighted round-robin, unrolled into one period: weights 5, 1, 1 give
/// `a a b a c a a`, never long runs of one instance.
fn smooth_weighted_schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|weight| i64::from(*weight)).sum();
    let scaled: Vec<i64> = weights
        .iter()
        .map(|weight| {
            let weight = i64::from(*weight);
            if total > MAX_SCHEDULE {
                (weight * MAX_SCHEDULE / total).max(1)
            } else {
                weight
            }
        })
        .collect();
    let total: i64 = scaled.iter().sum();
    let mut current = vec![0_i64; scaled.len()];
    (0..total)
        .map(|_| {
            for (current, weight) in current.iter_mut().zip(&scaled) {
                *current += *weight;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|(index, value)| (**value, std::cmp::Reverse(*index)))
                .expect("at least one instance");
            current[best] -= total;
            best
        })
        .collect()
}

/// Whether a response or transport error counts against the instance.
fn classify(result: &Result<Response, reqwest::Error>) -> Outcome {
    match result {
        Ok(response) => {
            let status = response.status();
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        }
        Err(_) => Outcome::Failure,
    }
}

impl BalancedClient {
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
    fn pick(&self, tried: &[bool]) -> Result<(usize, Permit<&crate::breaker::Shared>), Duration> {
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

    async fn send(
        &self,
        builder: RequestBuilder,
    ) -> Result<Response, BreakerError<reqwest::Error>> {
        let template = builder.build().map_err(BreakerError::Inner)?;
        let instances = self.inner.instances.len();
        let mut tried = vec![false; instances];
        let mut last_error = None;
        let mut template = Some(template);
        for _ in 0..instances {
            let (index, mut permit) = match self.pick(&tried) {
                Ok(picked) => picked,
                Err(retry_in) => {
                    return Err(last_error.unwrap_or(BreakerError::AllOpen { retry_in }));
                }
            };
            tried[index] = true;
            let Some(pattern) = template.as_ref() else {
                break;
            };
            // A streaming body cannot be replayed; then this is the only attempt.
            let mut request = match pattern.try_clone() {
                Some(copy) => copy,
                None => template.take().expect("checked above"),
            };
            *request.url_mut() = rebase(&self.inner.instances[index].base, request.url());
            let call = self.inner.http.execute(request);
            let result = match permit.call_timeout() {
                None => call.await,
                Some(limit) => {
                    if let Ok(result) = tokio::time::timeout(limit, call).await {
                        result
                    } else {
                        permit.complete_timeout(limit);
                        return Err(BreakerError::Timeout { elapsed: limit });
                    }
                }
            };
            permit.complete(classify(&result));
            match result {
                Ok(response) => return Ok(response),
                Err(error) if error.is_connect() && self.inner.failover && template.is_some() => {
                    last_error = Some(BreakerError::Inner(error));
                }
                Err(error) => return Err(BreakerError::Inner(error)),
            }
        }
        Err(last_error.unwrap_or(BreakerError::AllOpen {
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

/// A request being built for a [`BalancedClient`]; the instance is chosen at
/// [`send`](Self::send). The methods mirror reqwest's `RequestBuilder`.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct BalancedRequest {
    client: BalancedClient,
    builder: RequestBuilder,
}

impl BalancedRequest {
    /// Adds a header.
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|builder| builder.header(name, value))
    }

    /// Adds headers.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map(|builder| builder.headers(headers))
    }

    /// Sets `Authorization: Bearer <token>` (marked sensitive, so never logged by reqwest).
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        self.map(|builder| builder.bearer_auth(token))
    }

    /// Sends `body` as JSON, with `Content-Type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|builder| builder.json(body))
    }

    /// Sends `body` as `application/x-www-form-urlencoded`.
    pub fn form<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|builder| builder.form(body))
    }

    /// Appends query parameters.
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|builder| builder.query(query))
    }

    /// Sets a raw body.
    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|builder| builder.body(body))
    }

    /// Bounds this request (connect to end of body); a timeout counts against the
    /// instance. Default is the reqwest client's.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|builder| builder.timeout(timeout))
    }

    /// Applies any other reqwest `RequestBuilder` method.
    pub fn map(mut self, change: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        self.builder = change(self.builder);
        self
    }

    /// Sends the request to the next instance whose breaker admits it.
    ///
    /// Responses of every status are `Ok` (5xx and 429 count against the instance). Errors:
    /// [`BreakerError::AllOpen`] when no instance admits the call, [`BreakerError::Timeout`]
    /// past the breaker's call timeout, [`BreakerError::Inner`] for a transport error (after
    /// trying the other admitted instances if the connection could not be made).
    pub async fn send(self) -> Result<Response, BreakerError<reqwest::Error>> {
        self.client.send(self.builder).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weighted_schedule_interleaves_instances_in_proportion() {
        assert_eq!(smooth_weighted_schedule(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth_weighted_schedule(&[1, 1, 1]), [0, 1, 2]);
        let big = smooth_weighted_schedule(&[1_000_000, 1]);
        assert!(big.len() <= 4097);
        assert!(big.contains(&1));
    }

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

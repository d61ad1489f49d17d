use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use arc_swap::ArcSwap;
use futures_core::Stream;
use reqwest::Response;
use tokio::sync::oneshot;
use tower::discover::Change;

use super::classify::ResponseClassifier;
use super::follow::{Members, follow};
use super::headers::HeaderHook;
use super::{BalancedClient, ClientBuildError, ClientInner, Upstream, UpstreamSet};
use crate::{CircuitBreakerBuilder, Outcome};

#[cfg(doc)]
use super::default_classifier;

/// The service name of a client built without one.
const DEFAULT_SERVICE: &str = "upstream";

/// Configures a [`BalancedClient`].
#[derive(Debug, Clone, Default)]
pub struct BalancedClientBuilder {
    service: Option<String>,
    upstreams: Vec<(String, u32)>,
    breaker: CircuitBreakerBuilder,
    http: Option<reqwest::Client>,
    classifier: ResponseClassifier,
    no_failover: bool,
    outgoing_headers: HeaderHook,
}

impl BalancedClientBuilder {
    /// The name of the service the instances serve; each instance's breaker is named
    /// `"{service}/{host}:{port}"` after it (`"movies/10.0.0.5:8080"`), for listeners,
    /// [events](crate::CircuitBreaker::subscribe) and metrics. Default is `"upstream"`.
    #[must_use]
    pub fn service_name(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Adds an instance by its base URL (`http://127.0.0.1:8081`, or with a path prefix
    /// such as `http://10.0.0.5:8080/movies`), with weight 1. URLs with the same scheme,
    /// host and port share one breaker. No default: at least one is required.
    #[must_use]
    pub fn upstream(self, base_url: impl Into<String>) -> Self {
        self.weighted_upstream(base_url, 1)
    }

    /// Adds an instance that receives `weight` shares of the traffic; at least 1
    /// ([`build`](Self::build) refuses 0).
    #[must_use]
    pub fn weighted_upstream(mut self, base_url: impl Into<String>, weight: u32) -> Self {
        self.upstreams.push((base_url.into(), weight));
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
    /// shared by all); the client names each breaker (see
    /// [`service_name`](Self::service_name)). Default is `CircuitBreaker::builder()` with its defaults.
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

    /// Decides what each response or transport error means to its instance's breaker.
    /// Default is [`default_classifier`]: transport errors and 5xx responses are failures,
    /// every other response (429 included) a success.
    ///
    /// ```
    /// use portcullis_circuit_breaker::client::default_classifier;
    /// use portcullis_circuit_breaker::{BalancedClient, Outcome};
    ///
    /// // Also count a 429 against the instance; everything else as by default.
    /// let builder = BalancedClient::builder()
    ///     .upstream("http://127.0.0.1:8808")
    ///     .classifier(|result| match result {
    ///         Ok(response) if response.status() == 429 => Outcome::Failure,
    ///         other => default_classifier(other),
    ///     });
    /// # let _ = builder.build().unwrap();
    /// ```
    #[must_use]
    pub fn classifier<F>(mut self, classifier: F) -> Self
    where
        F: Fn(&Result<Response, reqwest::Error>) -> Outcome + Send + Sync + 'static,
    {
        self.classifier = ResponseClassifier::custom(classifier);
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

    /// Runs `hook` on the headers of every attempt just before it is sent (a failover's
    /// second attempt too), e.g. to continue the trace of the request being served with
    /// the `portcullis-response` crate's `TraceContext::inject_current`, which gives each
    /// attempt its own span id (W3C Trace Context, section 3.2.2.3). The hook runs on the
    /// task that sends, so it sees that task's locals.
    ///
    /// ```
    /// use portcullis_circuit_breaker::BalancedClient;
    /// use reqwest::header::{HeaderValue, USER_AGENT};
    ///
    /// let client = BalancedClient::builder()
    ///     .upstream("http://127.0.0.1:8809")
    ///     .outgoing_headers(|headers| {
    ///         headers.insert(USER_AGENT, HeaderValue::from_static("recommendation/1.0"));
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = client;
    /// ```
    #[must_use]
    pub fn outgoing_headers<F>(mut self, hook: F) -> Self
    where
        F: Fn(&mut reqwest::header::HeaderMap) + Send + Sync + 'static,
    {
        self.outgoing_headers = HeaderHook::new(hook);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`ClientBuildError::NoUpstream`] without an instance,
    /// [`ClientBuildError::InvalidUpstream`] for an unusable base URL or a zero weight,
    /// [`ClientBuildError::Breaker`] for a breaker setting out of range.
    pub fn build(self) -> Result<BalancedClient, ClientBuildError> {
        if self.upstreams.is_empty() {
            return Err(ClientBuildError::NoUpstream);
        }
        let (members, inner) = self.parts::<()>()?;
        Ok(BalancedClient::new(ClientInner {
            set: ArcSwap::from_pointee(members.set()),
            ..inner
        }))
    }

    /// Builds a client whose instances follow `changes` (on top of the fixed ones given,
    /// which may be none): tower's `Change::Insert(key, upstream)` adds an instance or
    /// replaces the one with that key, `Change::Remove(key)` takes it out. Changes are
    /// applied in a task of the current tokio runtime as they arrive, until the client is
    /// dropped or the stream ends (the set then stays as it was).
    ///
    /// An instance keeps its breaker across updates; instances with the same origin
    /// (scheme, host, port) share one. One that leaves gets no new request; requests in
    /// flight to it finish, then its breaker is dropped. Until the source announces an
    /// instance, requests fail with [`ClientError::NoInstance`](super::ClientError::NoInstance).
    ///
    /// The stream yields changes, not `Result`s: a source reports its own errors (and keeps
    /// its last known set). For a tower `Discover`, filter its errors out first.
    ///
    /// ```
    /// use portcullis_circuit_breaker::client::Upstream;
    /// use portcullis_circuit_breaker::BalancedClient;
    /// use tokio::sync::mpsc;
    /// use tower::discover::Change;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (changes, receiver) = mpsc::unbounded_channel();
    /// let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
    ///     receiver.recv().await.map(|change| (change, receiver))
    /// });
    /// let client = BalancedClient::builder().build_with_discovery(stream).unwrap();
    /// let upstream = Upstream::new("http://127.0.0.1:8809", 2).unwrap();
    /// changes.send(Change::Insert("movies-1", upstream)).unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build) (but no instance is required), and
    /// [`ClientBuildError::NoRuntime`] outside a tokio runtime.
    pub fn build_with_discovery<S, K>(self, changes: S) -> Result<BalancedClient, ClientBuildError>
    where
        S: Stream<Item = Change<K, Upstream>> + Send + 'static,
        K: PartialEq + Send + 'static,
    {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ClientBuildError::NoRuntime)?;
        let (members, inner) = self.parts::<K>()?;
        let (stop, stopped) = oneshot::channel();
        let client = BalancedClient::new(ClientInner {
            set: ArcSwap::from_pointee(members.set()),
            _stop_following: Some(stop),
            ..inner
        });
        runtime.spawn(follow(
            changes,
            members,
            Arc::downgrade(&client.inner),
            stopped,
        ));
        Ok(client)
    }

    /// The fixed instances and the client's settings, checked.
    fn parts<K: PartialEq>(self) -> Result<(Members<K>, ClientInner), ClientBuildError> {
        self.breaker.validate()?;
        let service = self.service.as_deref().unwrap_or(DEFAULT_SERVICE);
        let mut members = Members::new(service, self.breaker);
        for (raw, weight) in &self.upstreams {
            members.add_fixed(Upstream::new(raw, *weight)?);
        }
        Ok((
            members,
            ClientInner {
                http: self.http.unwrap_or_default(),
                classifier: self.classifier,
                set: ArcSwap::from_pointee(UpstreamSet::new(Vec::new())),
                cursor: AtomicUsize::new(0),
                failover: !self.no_failover,
                outgoing_headers: self.outgoing_headers,
                _stop_following: None,
            },
        ))
    }
}

use std::sync::atomic::AtomicUsize;

use reqwest::{Response, Url};

use super::classify::ResponseClassifier;
use super::{BalancedClient, ClientBuildError, ClientInner, Instance};
use crate::{CircuitBreaker, CircuitBreakerBuilder, Outcome};

#[cfg(doc)]
use super::default_classifier;

/// Schedules longer than this are scaled down; it bounds memory for extreme weights.
const MAX_SCHEDULE: i64 = 4096;

/// Configures a [`BalancedClient`].
#[derive(Debug, Clone, Default)]
pub struct BalancedClientBuilder {
    upstreams: Vec<(String, u32)>,
    breaker: CircuitBreakerBuilder,
    http: Option<reqwest::Client>,
    classifier: ResponseClassifier,
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
        self.breaker.validate()?;
        let mut instances: Vec<Instance> = Vec::new();
        let mut weights = Vec::new();
        for (raw, weight) in self.upstreams {
            let invalid = |reason: &'static str| ClientBuildError::InvalidUpstream {
                url: raw.as_str().into(),
                reason,
            };
            if weight == 0 {
                return Err(invalid("a weight must be at least 1"));
            }
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
                .map_or_else(
                    || CircuitBreaker::from_builder(self.breaker.clone()),
                    |same| same.breaker.clone(),
                );
            instances.push(Instance { base, breaker });
            weights.push(weight);
        }
        Ok(BalancedClient::new(ClientInner {
            http: self.http.unwrap_or_default(),
            classifier: self.classifier,
            schedule: smooth_weighted_schedule(&weights),
            instances,
            cursor: AtomicUsize::new(0),
            failover: !self.no_failover,
        }))
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
}

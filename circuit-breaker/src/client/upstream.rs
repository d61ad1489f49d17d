use reqwest::Url;

use super::ClientBuildError;

/// One instance a [`BalancedClient`](super::BalancedClient) may call: a base URL and a
/// weight, checked when made. What a discovery source's changes carry (see
/// [`BalancedClientBuilder::build_with_discovery`](super::BalancedClientBuilder::build_with_discovery)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub(super) base: Url,
    pub(super) weight: u32,
}

impl Upstream {
    /// An instance at `base_url` (`http://10.0.0.5:8080`, or with a path prefix) receiving
    /// `weight` shares of the traffic.
    ///
    /// # Errors
    ///
    /// [`ClientBuildError::InvalidUpstream`] for a URL that is not http(s) with a host, has
    /// a query or fragment, or a zero weight.
    pub fn new(base_url: &str, weight: u32) -> Result<Self, ClientBuildError> {
        let invalid = |reason: &'static str| ClientBuildError::InvalidUpstream {
            url: base_url.into(),
            reason,
        };
        if weight == 0 {
            return Err(invalid("a weight must be at least 1"));
        }
        let base = Url::parse(base_url).map_err(|_| invalid("not a valid absolute URL"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(invalid("not an http(s) URL with a host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("a base URL takes no query or fragment"));
        }
        Ok(Self { base, weight })
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

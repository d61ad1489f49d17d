//! Turns each [`TrustedIssuer`] into the rules and keys of a built guard: first the
//! checks that need no network, for every issuer, then the metadata reads and the first
//! JWKS fetches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::build_error::GuardBuildError;
use crate::client::{self, ClientSettings, FetchClient};
use crate::clock::Clock;
use crate::issuers::TrustedIssuer;
use crate::jwks::{JwksKeys, JwksSettings};
use crate::keys::{KeyRing, KeySource, PendingKey, SourceKeys};
use crate::metadata::{self, MetadataUrls};
use crate::routing::IssuerKeys;
use crate::validation::ClaimRules;

/// Where an issuer's JWKS comes from.
#[derive(Debug)]
enum JwksFrom {
    None,
    Url(reqwest::Url),
    Metadata(MetadataUrls),
}

/// An issuer whose configuration holds together; its keys are not converted yet.
pub(crate) struct Named {
    issuer: String,
    audience: Option<String>,
    keys: Vec<PendingKey>,
    jwks_url: Option<String>,
    from_metadata: bool,
    source: Option<Arc<dyn KeySource>>,
}

/// An issuer ready to connect: keys converted, URLs checked.
pub(crate) struct Checked {
    issuer: String,
    audience: Option<String>,
    static_keys: KeyRing,
    jwks: JwksFrom,
    source: Option<Arc<dyn KeySource>>,
}

/// What connecting an issuer needs from the guard-wide settings.
pub(crate) struct Connect {
    pub(crate) client: ClientSettings,
    pub(crate) min_refetch_interval: Duration,
    pub(crate) refresh_interval: Duration,
    pub(crate) allow_insecure_http: bool,
    pub(crate) leeway: u64,
    pub(crate) clock: Arc<dyn Clock>,
    /// Bumped whenever an issuer's JWKS changes (the token cache then misses).
    pub(crate) generation: Arc<AtomicU64>,
}

impl Named {
    /// An issuer and at least one way to get keys; the audience not empty; every issuer
    /// once.
    pub(crate) fn check_all(configs: Vec<TrustedIssuer>) -> Result<Vec<Self>, GuardBuildError> {
        let mut named: Vec<Self> = Vec::with_capacity(configs.len());
        for config in configs {
            let issuer = config
                .issuer
                .filter(|i| !i.is_empty())
                .ok_or(GuardBuildError::MissingIssuer)?;
            if config.audience.as_deref() == Some("") {
                return Err(GuardBuildError::EmptyAudience);
            }
            if config.keys.is_empty()
                && config.jwks_url.is_none()
                && config.key_source.is_none()
                && !config.from_metadata
            {
                return Err(GuardBuildError::NoKey);
            }
            if config.jwks_url.is_some() && config.from_metadata {
                return Err(GuardBuildError::TwoJwksUrls { issuer });
            }
            if named.iter().any(|other| other.issuer == issuer) {
                return Err(GuardBuildError::DuplicateIssuer { issuer });
            }
            named.push(Self {
                issuer,
                audience: config.audience,
                keys: config.keys,
                jwks_url: config.jwks_url,
                from_metadata: config.from_metadata,
                source: config.key_source,
            });
        }
        Ok(named)
    }

    /// Whether keys or metadata are fetched over the network for this issuer.
    pub(crate) fn fetches(&self) -> bool {
        self.jwks_url.is_some() || self.from_metadata
    }

    /// Converts the keys and checks the URLs.
    pub(crate) fn check(
        self,
        allow_short_hmac_secret: bool,
        allow_insecure_http: bool,
    ) -> Result<Checked, GuardBuildError> {
        let static_keys = KeyRing {
            keys: self
                .keys
                .into_iter()
                .map(|key| key.convert(allow_short_hmac_secret))
                .collect::<Result<_, _>>()?,
        };
        let jwks = match (self.jwks_url, self.from_metadata) {
            (Some(url), _) => JwksFrom::Url(client::check_url(&url, allow_insecure_http)?),
            (None, true) => {
                JwksFrom::Metadata(metadata::metadata_urls(&self.issuer, allow_insecure_http)?)
            }
            (None, false) => JwksFrom::None,
        };
        Ok(Checked {
            issuer: self.issuer,
            audience: self.audience,
            static_keys,
            jwks,
            source: self.source,
        })
    }
}

impl Checked {
    /// Reads the metadata (if any) and starts the JWKS (if any): a first fetch, whose
    /// failure is logged, not returned, and the background refresh.
    pub(crate) async fn connect(
        self,
        settings: &Connect,
    ) -> Result<(IssuerKeys, Option<tokio::task::AbortHandle>), GuardBuildError> {
        let url = match self.jwks {
            JwksFrom::None => None,
            JwksFrom::Url(url) => Some(url),
            JwksFrom::Metadata(urls) => {
                let uri = metadata::jwks_uri(&self.issuer, &urls, settings.client.clone()).await?;
                Some(client::check_url(&uri, settings.allow_insecure_http)?)
            }
        };
        let mut refresher = None;
        let jwks = match url {
            None => None,
            Some(url) => {
                let (jwks, handle) = start_jwks(url, settings).await?;
                refresher = Some(handle);
                Some(jwks)
            }
        };
        let keys = IssuerKeys {
            rules: ClaimRules {
                issuer: self.issuer,
                audience: self.audience,
                leeway: settings.leeway,
            },
            static_keys: self.static_keys,
            jwks,
            source: self.source.map(SourceKeys::new),
        };
        Ok((keys, refresher))
    }
}

async fn start_jwks(
    url: reqwest::Url,
    settings: &Connect,
) -> Result<(Arc<JwksKeys>, tokio::task::AbortHandle), GuardBuildError> {
    let client = FetchClient::new(&url, settings.client.clone())?;
    let generation = Arc::clone(&settings.generation);
    let jwks = Arc::new(JwksKeys::new(
        JwksSettings {
            url,
            client,
            min_refetch_interval: settings.min_refetch_interval,
            refresh_interval: settings.refresh_interval,
        },
        Arc::clone(&settings.clock),
        Box::new(move || {
            generation.fetch_add(1, Ordering::AcqRel);
        }),
    ));
    let first_delay = match jwks.refresh().await {
        Ok(ttl) => ttl.mul_f32(0.9),
        Err(error) => {
            tracing::warn!(%error, "first JWKS fetch failed; retrying in the background");
            settings.min_refetch_interval.min(Duration::from_secs(1))
        }
    };
    let refresher = JwksKeys::spawn_refresher(&jwks, first_delay);
    Ok((jwks, refresher))
}

//! The service registry as the example services use it (`registryAddrs`): each instance
//! announces itself once it is ready and leaves first on shutdown ([`announce`]); callers
//! follow the instances of the services they call ([`follow`]), including the IAM's public
//! keys for the token guard ([`keys`]). With `traefikRootKey`, each instance also publishes
//! the key Traefik's etcd provider routes by ([`traefik`]).
//!
//! The registry is etcd, through `portcullis-discovery`. Without `registryAddrs` nothing
//! here runs and every address is static configuration, as before.

pub mod announce;
pub mod follow;
pub mod keys;
pub mod traefik;

use std::time::Duration;

pub use portcullis_discovery::EtcdRegistry;
pub use portcullis_discovery::etcd::DEFAULT_TTL;

use crate::config::CommonConfig;
use crate::tls::{self, ExtraRoots};

/// How long a new connection to etcd may take; the watch itself is a long-lived response,
/// so the client sets no overall timeout (the registry bounds each of its calls).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the registry could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrySetupError {
    /// An endpoint is plain `http://` off loopback without `allowInsecureHttp`, or the
    /// TLS roots did not load.
    #[error(transparent)]
    Tls(#[from] tls::TlsConfigError),
    /// The HTTP client could not be built.
    #[error("cannot build the registry's HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// An endpoint, the prefix or the TTL is invalid.
    #[error("invalid registry settings: {0}")]
    Settings(#[from] portcullis_discovery::BuildError),
}

/// The etcd registry of `registryAddrs`, or `None` when none is configured. Endpoints off
/// loopback must be `https://` (trusting `tlsRootCertificates` too) unless
/// `allowInsecureHttp`. No connection is made yet.
pub fn connect(common: &CommonConfig) -> Result<Option<EtcdRegistry>, RegistrySetupError> {
    if !common.uses_registry() {
        return Ok(None);
    }
    let roots = ExtraRoots::load(&common.tls_root_certificates)?;
    let target = RegistryTarget {
        endpoints: &common.registry_addrs,
        prefix: &common.registry_prefix,
        ttl: common.registry_ttl(),
        roots: &roots,
        allow_insecure_http: common.allow_insecure_http,
    };
    connect_to(&target).map(Some)
}

/// Where the registry is and how to reach it, for [`connect_to`].
#[derive(Debug, Clone, Copy)]
pub struct RegistryTarget<'a> {
    /// etcd client endpoints.
    pub endpoints: &'a [String],
    /// The key prefix services are registered under.
    pub prefix: &'a str,
    /// The lease time to live of registrations made through it.
    pub ttl: Duration,
    /// Extra roots trusted for `https://` endpoints.
    pub roots: &'a ExtraRoots,
    /// Allows plain `http://` off loopback (with a warning).
    pub allow_insecure_http: bool,
}

/// The etcd registry at `target` (a service's, or the recommendation client's flags).
/// No connection is made yet.
pub fn connect_to(target: &RegistryTarget<'_>) -> Result<EtcdRegistry, RegistrySetupError> {
    for endpoint in target.endpoints {
        tls::check_plain_http("registryAddrs", endpoint, target.allow_insecure_http)?;
    }
    let http = tls::http_client_builder(target.roots)?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(5))
        .build()?;
    let registry = EtcdRegistry::builder()
        .endpoints(target.endpoints.iter().cloned())
        .prefix(target.prefix)
        .ttl(target.ttl)
        .http_client(http)
        .build()?;
    tracing::info!(
        endpoints = ?target.endpoints,
        prefix = %target.prefix,
        ttl_secs = target.ttl.as_secs(),
        "service registry: etcd"
    );
    Ok(registry)
}

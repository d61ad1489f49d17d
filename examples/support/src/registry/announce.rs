//! An instance's entry in the registry: announced once its own `/readyz` answers 200, and
//! left first on shutdown, before the server stops taking connections.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use portcullis_discovery::{EtcdRegistry, Instance, Registration, Url};
use tokio::task::JoinHandle;

use crate::config::{Config, ServiceSettings};

/// How often `/readyz` is asked before the first 200, and the pause before registering
/// again after the registry refused or could not be reached.
const RETRY: Duration = Duration::from_millis(250);

/// How long one `/readyz` call may take.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The entry a service will have in the registry, from its configuration and the address
/// it is bound to: `advertiseUrl` when set (required for a wildcard bind), else
/// `http://<bound address>`; the id is `instanceId` when set, else the URL's host and port
/// (unique for as long as the URL is); the weight is `registryWeight`.
///
/// # Errors
///
/// `advertiseUrl` is not a URL (the configuration's own check refuses that earlier).
pub fn instance_for<S: ServiceSettings>(
    config: &Config<S>,
    bound: SocketAddr,
) -> Result<Instance, url::ParseError> {
    let url: Url = match config.common.advertise_url.trim() {
        "" => format!("http://{bound}").parse()?,
        advertised => advertised.parse()?,
    };
    let id = match config.common.instance_id.trim() {
        "" => format!(
            "{}-{}",
            url.host_str().unwrap_or("instance"),
            url.port_or_known_default().unwrap_or_default()
        ),
        id => id.to_owned(),
    };
    Ok(Instance::new(config.service_name(), key_safe(&id), url)
        .with_weight(config.common.registry_weight.max(1)))
}

/// An etcd key segment: anything but letters, digits, `.`, `_` and `-` becomes `-`.
fn key_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// An instance being announced: registered once ready, kept alive in the background.
#[derive(Debug)]
pub struct Announcement {
    registration: Arc<Mutex<Option<Registration>>>,
    task: JoinHandle<()>,
    delay: Duration,
}

impl Announcement {
    /// Starts announcing `instance`: asks `http://<bound>/readyz` (loopback for a wildcard
    /// bind) until it answers 200, then registers, retrying while the registry cannot be
    /// reached. `delay` is the pause [`leave`](Self::leave) makes after deregistering.
    ///
    /// `extra` keys (such as Traefik's, see [`traefik`](super::traefik)) are written
    /// beside the entry and live and go with it.
    pub fn start(
        registry: EtcdRegistry,
        instance: Instance,
        extra: Vec<(String, String)>,
        bound: SocketAddr,
        delay: Duration,
    ) -> Self {
        let registration = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&registration);
        let task = tokio::spawn(async move {
            wait_until_ready(bound).await;
            loop {
                match registry
                    .register_with_keys(instance.clone(), extra.clone())
                    .await
                {
                    Ok(entry) => {
                        tracing::info!(
                            service = %instance.service,
                            id = %instance.id,
                            url = %instance.url,
                            weight = instance.weight,
                            "registered in the service registry"
                        );
                        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(entry);
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot register yet; retrying");
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        });
        Self {
            registration,
            task,
            delay,
        }
    }

    /// Whether the instance is registered now.
    pub fn is_registered(&self) -> bool {
        self.registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The first step of a graceful shutdown: removes the entry, so callers stop picking
    /// this instance, then waits the configured delay while they notice; the server keeps
    /// serving meanwhile. A failed removal is logged; the entry then expires with its lease.
    pub async fn leave(self) {
        self.task.abort();
        let entry = self
            .registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(entry) = entry else {
            return;
        };
        match entry.deregister().await {
            Ok(()) => tracing::info!(delay = ?self.delay, "left the service registry"),
            Err(error) => {
                tracing::warn!(%error, "cannot leave the service registry; the entry expires with its lease");
            }
        }
        tokio::time::sleep(self.delay).await;
    }
}

/// Waits until `GET /readyz` on the bound address answers 200.
async fn wait_until_ready(bound: SocketAddr) {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/readyz", SocketAddr::new(ip, bound.port()));
    let client = reqwest::Client::builder()
        .timeout(READY_TIMEOUT)
        .build()
        .unwrap_or_default();
    loop {
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => tracing::debug!(status = %response.status(), "not ready yet"),
            Err(error) => tracing::debug!(%error, "not ready yet"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Starts announcing the service of `config`, bound at `bound`, in `registry` (see
/// [`Announcement::start`]); `None` without a registry.
///
/// # Errors
///
/// `advertiseUrl` is not a URL (the configuration's own check refuses that earlier).
pub fn announce<S: ServiceSettings>(
    registry: Option<&EtcdRegistry>,
    config: &Config<S>,
    bound: SocketAddr,
) -> Result<Option<Announcement>, url::ParseError> {
    let Some(registry) = registry else {
        return Ok(None);
    };
    let instance = instance_for(config, bound)?;
    let mut extra = Vec::new();
    if !config.common.traefik_root_key.trim().is_empty() {
        let key = super::traefik::server_url_key(
            config.common.traefik_root_key.trim(),
            &instance.service,
            &instance.id,
        );
        let url = instance.url.as_str().trim_end_matches('/').to_owned();
        extra.push((key, url));
    }
    Ok(Some(Announcement::start(
        registry.clone(),
        instance,
        extra,
        bound,
        config.common.deregister_delay(),
    )))
}

/// The last step of each service's `main`: binds `config`'s address (printing
/// `listening on http://...`), announces the instance in `registry` (if any) once its
/// `/readyz` answers, and serves `app` until Ctrl-C or SIGTERM; then it leaves the registry
/// first, stops accepting, and lets requests in flight finish.
///
/// # Errors
///
/// The address cannot be bound or parsed, `advertiseUrl` is not a URL, or the server
/// failed.
pub async fn serve_announced<S: ServiceSettings>(
    service: &'static str,
    config: &Config<S>,
    app: axum::Router,
    registry: Option<&EtcdRegistry>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = crate::server::bind(service, config.common.socket_addr()?).await?;
    let announcement = announce(registry, config, listener.local_addr()?)?;
    crate::server::serve_until(
        service,
        listener,
        app,
        config.common.connection_limits(),
        shutdown_after_leaving(announcement),
    )
    .await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, after `announcement` (if any) has left the registry:
/// the shutdown signal for [`serve_until`](crate::server::serve_until).
pub async fn shutdown_after_leaving(announcement: Option<Announcement>) {
    crate::server::shutdown_signal().await;
    if let Some(announcement) = announcement {
        announcement.leave().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MovieServiceConfig;

    #[test]
    fn the_entry_is_the_advertised_url_or_the_bound_address_with_a_key_safe_id() {
        let bound: SocketAddr = "127.0.0.1:8809".parse().unwrap();
        let mut config = MovieServiceConfig::default();
        let plain = instance_for(&config, bound).unwrap();
        assert_eq!(plain.service, "movie_service");
        assert_eq!(plain.id, "127.0.0.1-8809");
        assert_eq!(plain.url.as_str(), "http://127.0.0.1:8809/");
        assert_eq!(plain.weight, 1);

        config.common.advertise_url = "https://movies-2.internal".to_owned();
        config.common.service_name = "movies".to_owned();
        config.common.registry_weight = 3;
        let advertised = instance_for(&config, bound).unwrap();
        assert_eq!(advertised.service, "movies");
        assert_eq!(advertised.id, "movies-2.internal-443");
        assert_eq!(advertised.weight, 3);

        config.common.instance_id = "eu/west 1".to_owned();
        assert_eq!(instance_for(&config, bound).unwrap().id, "eu-west-1");
    }
}

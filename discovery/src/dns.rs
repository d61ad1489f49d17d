//! A live view from periodic DNS re-resolution of one name (A/AAAA records).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use url::Url;

use crate::Instance;
use crate::view::{ServiceView, ViewWriter};

/// The default time between two resolutions.
pub const DEFAULT_DNS_INTERVAL: Duration = Duration::from_secs(5);

/// Resolves a name (a Kubernetes headless service, a Consul DNS name) every interval; each
/// address is an instance with id `ip:port`, URL `{scheme}://ip:port/` and weight 1.
///
/// A failed or empty resolution keeps the last known set and marks the view stale.
#[derive(Debug, Clone)]
pub struct DnsSource {
    service: String,
    host: String,
    port: u16,
    scheme: &'static str,
    interval: Duration,
}

impl DnsSource {
    /// Resolves `host` for `service`'s instances listening on `port`, over `http`.
    pub fn new(service: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        Self {
            service: service.into(),
            host: host.into(),
            port,
            scheme: "http",
            interval: DEFAULT_DNS_INTERVAL,
        }
    }

    /// Calls the instances over HTTPS.
    #[must_use]
    pub fn https(mut self) -> Self {
        self.scheme = "https";
        self
    }

    /// The time between two resolutions (at least 100 ms). Default is
    /// [`DEFAULT_DNS_INTERVAL`].
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Starts resolving in the background (within the current tokio runtime) until the view
    /// and its change streams are dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn watch(self) -> ServiceView {
        let slot: Arc<OnceLock<tokio::task::AbortHandle>> = Arc::new(OnceLock::new());
        let guard = Arc::new(AbortOnDrop(slot.clone()));
        let (view, writer) = ServiceView::new(&self.service, guard);
        let task = tokio::spawn(self.resolve_forever(writer));
        let _ = slot.set(task.abort_handle());
        view
    }

    async fn resolve_forever(self, writer: ViewWriter) {
        loop {
            match tokio::net::lookup_host((self.host.as_str(), self.port)).await {
                Ok(addresses) => {
                    let addresses: BTreeSet<SocketAddr> = addresses.collect();
                    if addresses.is_empty() {
                        writer.stale(format!("{} resolved to no address", self.host));
                    } else {
                        writer.replace_all(
                            addresses
                                .into_iter()
                                .filter_map(|address| self.instance(address)),
                        );
                        writer.healthy();
                    }
                }
                Err(error) => writer.stale(format!("resolving {}: {error}", self.host)),
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    fn instance(&self, address: SocketAddr) -> Option<Instance> {
        let url = Url::parse(&format!("{}://{address}/", self.scheme)).ok()?;
        Some(Instance::new(
            self.service.clone(),
            address.to_string(),
            url,
        ))
    }
}

struct AbortOnDrop(Arc<OnceLock<tokio::task::AbortHandle>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.get() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tower::discover::Change;

    use super::*;

    #[tokio::test]
    async fn localhost_resolves_to_loopback_instances_on_the_given_port() {
        let view = DnsSource::new("movies", "localhost", 8809)
            .interval(Duration::from_millis(100))
            .watch();
        let mut changes = view.changes();
        let Some(Change::Insert(id, instance)) = changes.next().await else {
            panic!("expected an insert");
        };
        assert!(id == "127.0.0.1:8809" || id == "[::1]:8809", "{id}");
        assert_eq!(instance.url.port(), Some(8809));
        assert!(view.is_healthy());
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_leaves_the_view_stale_and_empty() {
        let view = DnsSource::new("movies", "no-such-host.invalid", 80).watch();
        let mut health = view.health();
        health
            .wait_for(|health| matches!(health, crate::SourceHealth::Stale { .. }))
            .await
            .unwrap();
        assert!(view.snapshot().is_empty());
    }
}

//! A registry on etcd v3: leases with keep-alive for registration, a watch for discovery.
//!
//! Each instance is a key `{prefix}/{service}/{id}` whose value is the [`Instance`] as
//! JSON, bound to a lease with a time to live (default 10 s) that its [`Registration`]
//! renews every third of it. A crashed instance's key disappears when its lease expires.
//!
//! The client speaks etcd's v3 JSON gateway (`/v3/kv/range`, `/v3/lease/grant`,
//! `/v3/lease/keepalive`, `/v3/watch`, served by etcd 3.4 and later) over reqwest, rather
//! than gRPC through the `etcd-client` crate: that crate generates its protocol code at
//! build time and needs `protoc`, and brings tonic and prost into every build, for the
//! handful of calls a registry makes. The watch is a long-lived streaming response of JSON
//! messages, which reqwest reads chunk by chunk.

mod gateway;
mod keepalive;
mod watcher;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use url::Url;

use crate::view::ServiceView;
use crate::{BuildError, Instance, Registration, RegistryError, SourceHealth};

use gateway::Gateway;
use keepalive::Entry;
use watcher::Timing;

/// The default key prefix under which services are registered.
pub const DEFAULT_PREFIX: &str = "/portcullis/services";
/// The default lease time to live.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
/// The default pause before a lost watch or listing is tried again.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The default interval at which a quiet watch checks that the registry still answers.
pub const DEFAULT_PROBE: Duration = Duration::from_secs(5);

/// A service registry on etcd: [`register`](Self::register) an instance,
/// [`watch`](Self::watch) a service.
///
/// Cheap to clone; clones share the HTTP connection pool.
#[derive(Debug, Clone)]
pub struct EtcdRegistry {
    gateway: Arc<Gateway>,
    prefix: Arc<str>,
    ttl: Duration,
    timing: Timing,
}

/// Configures an [`EtcdRegistry`].
#[derive(Debug, Clone)]
pub struct EtcdRegistryBuilder {
    endpoints: Vec<String>,
    prefix: String,
    ttl: Duration,
    retry: Duration,
    probe: Duration,
    http: Option<reqwest::Client>,
}

impl Default for EtcdRegistryBuilder {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl: DEFAULT_TTL,
            retry: DEFAULT_RETRY,
            probe: DEFAULT_PROBE,
            http: None,
        }
    }
}

impl EtcdRegistryBuilder {
    /// Adds an etcd client endpoint (`http://127.0.0.1:2379`). At least one is required;
    /// calls go to the last one that answered, then to the others in turn.
    #[must_use]
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// Adds several endpoints.
    #[must_use]
    pub fn endpoints<I, E>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = E>,
        E: Into<String>,
    {
        self.endpoints.extend(endpoints.into_iter().map(Into::into));
        self
    }

    /// The key prefix under which services live. Default is [`DEFAULT_PREFIX`].
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The lease time to live of registrations, in whole seconds (at least 2); renewed
    /// every third of it. Default is [`DEFAULT_TTL`].
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The pause before a lost watch or a failed listing is tried again. Default is
    /// [`DEFAULT_RETRY`].
    #[must_use]
    pub fn retry_interval(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// How often a watch that has seen no change checks that the registry still answers,
    /// so that a connection cut off without a reset is noticed (the view turns stale and
    /// the watch resumes elsewhere or later). Default is [`DEFAULT_PROBE`].
    #[must_use]
    pub fn probe_interval(mut self, probe: Duration) -> Self {
        self.probe = probe;
        self
    }

    /// The reqwest client for the gateway calls (TLS, proxies are its own). It must not
    /// set an overall request timeout: the watch is a long-lived response. Default has TCP
    /// keep-alive on.
    #[must_use]
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the registry client (no connection is made yet).
    ///
    /// # Errors
    ///
    /// [`BuildError::NoEndpoint`], [`BuildError::InvalidEndpoint`], or
    /// [`BuildError::InvalidSetting`] for a TTL under 2 s or not in whole seconds, a zero
    /// retry or probe interval, or an empty prefix.
    pub fn build(self) -> Result<EtcdRegistry, BuildError> {
        if self.endpoints.is_empty() {
            return Err(BuildError::NoEndpoint);
        }
        let mut endpoints = Vec::new();
        for raw in &self.endpoints {
            let invalid = |reason| BuildError::InvalidEndpoint {
                endpoint: raw.clone(),
                reason,
            };
            let mut url = Url::parse(raw).map_err(|_| invalid("not a valid absolute URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(invalid("not an http(s) URL with a host"));
            }
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            endpoints.push(url);
        }
        let setting = |setting, reason| BuildError::InvalidSetting { setting, reason };
        if self.ttl < Duration::from_secs(2) || self.ttl.subsec_nanos() != 0 {
            return Err(setting("ttl", "must be whole seconds, at least 2"));
        }
        if self.retry.is_zero() {
            return Err(setting("retry_interval", "must be more than zero"));
        }
        if self.probe.is_zero() {
            return Err(setting("probe_interval", "must be more than zero"));
        }
        let prefix = self.prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err(setting("prefix", "must not be empty"));
        }
        let http = self.http.unwrap_or_else(|| {
            reqwest::Client::builder()
                .tcp_keepalive(Duration::from_secs(5))
                .build()
                .unwrap_or_default()
        });
        let request_timeout = (self.ttl / 3).min(Duration::from_secs(5));
        Ok(EtcdRegistry {
            gateway: Arc::new(Gateway::new(http, endpoints, request_timeout)),
            prefix: prefix.into(),
            ttl: self.ttl,
            timing: Timing {
                retry: self.retry,
                probe: self.probe,
            },
        })
    }
}

/// Aborts a task when the last view or stream that needs it is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn check_name(name: &str) -> Result<(), RegistryError> {
    let invalid = |reason| RegistryError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if name.contains('/') {
        return Err(invalid("must not contain '/'"));
    }
    Ok(())
}

impl EtcdRegistry {
    /// Starts configuring a registry client.
    pub fn builder() -> EtcdRegistryBuilder {
        EtcdRegistryBuilder::default()
    }

    fn service_prefix(&self, service: &str) -> String {
        format!("{}/{service}/", self.prefix)
    }

    /// Registers `instance` under a fresh lease and keeps it alive in the background
    /// (within the current tokio runtime) while the returned handle lives. Register once
    /// the instance is ready to serve.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] for a service name or id that is empty or contains
    /// `/`; otherwise the registry could not be reached or refused the entry.
    pub async fn register(&self, instance: Instance) -> Result<Registration, RegistryError> {
        self.register_with_keys(instance, Vec::new()).await
    }

    /// As [`register`](Self::register), also writing `extra` keys (whole keys, not under
    /// the prefix) bound to the same lease: they are kept alive, written again and removed
    /// with the entry. For other readers of the same etcd, such as Traefik's KV provider
    /// (`traefik/http/services/<service>/loadBalancer/servers/<id>/url`).
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register), and [`RegistryError::InvalidName`] for an empty
    /// extra key.
    pub async fn register_with_keys(
        &self,
        instance: Instance,
        extra: Vec<(String, String)>,
    ) -> Result<Registration, RegistryError> {
        if let Some((key, _)) = extra.iter().find(|(key, _)| key.is_empty()) {
            return Err(RegistryError::InvalidName {
                name: key.clone(),
                reason: "an extra key must not be empty",
            });
        }
        check_name(&instance.service)?;
        check_name(&instance.id)?;
        let key = format!("{}{}", self.service_prefix(&instance.service), instance.id);
        let value = serde_json::to_vec(&instance)
            .map_err(|error| RegistryError::InvalidAnswer(error.to_string()))?;
        let entry = Entry {
            gateway: self.gateway.clone(),
            key: key.into_bytes(),
            value,
            extra: extra
                .into_iter()
                .map(|(key, value)| (key.into_bytes(), value.into_bytes()))
                .collect(),
            ttl: self.ttl,
        };
        let lease = entry.register().await?;
        let (control, commands) = mpsc::unbounded_channel();
        let (health, health_watch) = watch::channel(SourceHealth::Healthy);
        tokio::spawn(entry.keep_alive(Some(lease), commands, health));
        Ok(Registration::new(instance, control, health_watch))
    }

    /// A live view of `service`'s instances, followed in the background (within the
    /// current tokio runtime) until the view and its change streams are dropped.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] for a service name that is empty or contains `/`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn watch(&self, service: &str) -> Result<ServiceView, RegistryError> {
        check_name(service)?;
        let prefix = self.service_prefix(service).into_bytes();
        let slot: Arc<OnceLock<AbortOnDrop>> = Arc::new(OnceLock::new());
        let (view, writer) = ServiceView::new(service, slot.clone());
        let task = tokio::spawn(watcher::follow(
            self.gateway.clone(),
            prefix,
            writer,
            self.timing,
        ));
        let _ = slot.set(AbortOnDrop(task.abort_handle()));
        Ok(view)
    }
}

//! [`CommonConfig`]: the keys both services read.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::deploy::{ConsoleLogFormat, path_list, text_list};
use super::sources::{parse_listen_addr, string_or_number};
use super::{ConfigError, Secret};

/// The keys both services read: listening, logging, the store, tokens and the request
/// limits. Unknown keys are ignored, so one file may serve both services as the original
/// project's did.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommonConfig {
    /// `":8808"`, `"8808"` or `"127.0.0.1:8808"`; 0 picks a free port.
    #[serde(deserialize_with = "string_or_number")]
    pub port: String,
    /// Human-readable logs on stderr.
    pub enable_gin_console_log: bool,
    /// JSON-lines logs to `logFilename`, rotated by size.
    pub enable_gin_file_log: bool,
    /// The log file, when file logging is on.
    pub log_filename: PathBuf,
    /// Rotate the log file past this many megabytes.
    pub log_max_size: u64,
    /// Keep at most this many rotated files (0: keep all).
    pub log_max_backups: usize,
    /// Delete rotated files older than this many days (0: never).
    pub log_max_age: u64,
    /// `host:port[,host:port...]` of `MongoDB`; empty means the in-memory store.
    #[serde(deserialize_with = "string_or_number")]
    pub mg_addrs: String,
    /// The database name.
    #[serde(deserialize_with = "string_or_number")]
    pub mg_db_name: String,
    /// The `MongoDB` user, if the server needs one.
    #[serde(deserialize_with = "string_or_number")]
    pub mg_db_username: String,
    /// The `MongoDB` password (a secret).
    pub mg_db_password: Option<Secret>,
    /// The full `MongoDB` URI (from `MONGODB_URI`, a secret: it may hold a password); wins
    /// over `mgAddrs`.
    #[serde(skip)]
    pub mongodb_uri: Option<Secret>,
    /// The shared HS256 secret of the original project. When set, tokens are HS256.
    pub jwt_secret_password: Option<Secret>,
    /// The `iss` of issued tokens, checked by the guard.
    #[serde(deserialize_with = "string_or_number")]
    pub issuer: String,
    /// The `aud` of issued tokens, checked by the guard; empty means none.
    #[serde(deserialize_with = "string_or_number")]
    pub audience: String,
    /// Sent back in `x-instance-id` on every response, to tell instances apart behind a
    /// load balancer.
    #[serde(deserialize_with = "string_or_number")]
    pub instance_id: String,
    /// Whole-request deadline in seconds.
    pub request_timeout_secs: u64,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// Seconds from a request's first byte until its whole head must have arrived.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may wait for a request (after accept, between requests).
    pub idle_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,

    // Deployment: advertised address, console log format, HTTPS between services.
    /// The URL other services and clients should call this one at (a container or pod
    /// name, a load balancer). Required when `port` binds every interface (`0.0.0.0:8808`,
    /// `[::]:8808`); empty by default.
    #[serde(deserialize_with = "string_or_number")]
    pub advertise_url: String,
    /// `text` (the default: human-readable, stderr) or `json` (one object a line on
    /// stdout, each request's lines with its `request_id`).
    pub console_log_format: ConsoleLogFormat,
    /// PEM files of extra roots trusted for `https://` calls to other services (the
    /// JWKS, the login proxy); a list, or paths separated by commas. Empty by default:
    /// Mozilla's roots only.
    #[serde(deserialize_with = "path_list")]
    pub tls_root_certificates: Vec<PathBuf>,
    /// Allows plain `http://` to other services off loopback (with a loud warning).
    /// Default false: such a URL stops the service at start-up.
    pub allow_insecure_http: bool,

    // The service registry (etcd): where instances announce themselves and find each other.
    /// etcd client endpoints (`http://127.0.0.1:2379`), a list or one comma-separated
    /// string. Empty (the default): no registry, every address is static configuration.
    #[serde(deserialize_with = "text_list")]
    pub registry_addrs: Vec<String>,
    /// The key prefix services are registered under in etcd.
    #[serde(deserialize_with = "string_or_number")]
    pub registry_prefix: String,
    /// The name this service registers under; empty: the service's own name
    /// (`movie_service`, `user_service`).
    #[serde(deserialize_with = "string_or_number")]
    pub service_name: String,
    /// The registration's lease time to live in seconds (at least 2): a crashed instance
    /// disappears from the registry within this.
    pub registry_ttl_secs: u64,
    /// The share of traffic this instance asks for, relative to the others (at least 1).
    pub registry_weight: u32,
    /// On shutdown, milliseconds between leaving the registry and refusing new
    /// connections, so that every caller has seen the instance leave.
    pub deregister_delay_ms: u64,
    /// The root key of Traefik's etcd provider (`traefik`); when set, each instance also
    /// publishes its URL as a server of the Traefik service named `serviceName`, bound to
    /// its registration. Empty (the default): nothing for Traefik.
    #[serde(deserialize_with = "string_or_number")]
    pub traefik_root_key: String,
    /// Where `GET /metrics` is served: empty (the default) on `port` beside the API;
    /// otherwise on its own listener at this address, in `port`'s forms (`":9464"`,
    /// `"9464"`, `"0.0.0.0:9464"`), and not on `port`: for a scrape network apart from
    /// the clients'.
    #[serde(deserialize_with = "string_or_number")]
    pub metrics_port: String,

    // Traces (feature `otel`).
    /// The OTLP/HTTP base URL of a collector (`http://127.0.0.1:4318`); spans go to its
    /// `/v1/traces`. Empty (the default): no export. Needs the `otel` feature; plain
    /// `http://` off loopback follows `allowInsecureHttp`.
    #[serde(deserialize_with = "string_or_number")]
    pub otlp_endpoint: String,
    /// Milliseconds between two exports of the finished spans (at least 10; default 5000).
    pub otlp_export_interval_ms: u64,
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            port: "0".to_owned(),
            enable_gin_console_log: true,
            enable_gin_file_log: false,
            log_filename: PathBuf::from("logs/service.log"),
            log_max_size: 10,
            log_max_backups: 5,
            log_max_age: 30,
            mg_addrs: String::new(),
            mg_db_name: "portcullis".to_owned(),
            mg_db_username: String::new(),
            mg_db_password: None,
            mongodb_uri: None,
            jwt_secret_password: None,
            issuer: "seedotech".to_owned(),
            audience: "movies".to_owned(),
            instance_id: String::new(),
            request_timeout_secs: 10,
            body_limit_bytes: 64 * 1024,
            header_read_timeout_secs: 10,
            // Above the 60 s nginx and most proxies keep idle upstream connections, so the
            // proxy, not the service, closes them (no request sent into a closing socket).
            idle_timeout_secs: 75,
            max_connections: 1024,
            advertise_url: String::new(),
            console_log_format: ConsoleLogFormat::Text,
            tls_root_certificates: Vec::new(),
            allow_insecure_http: false,
            registry_addrs: Vec::new(),
            registry_prefix: portcullis_discovery::etcd::DEFAULT_PREFIX.to_owned(),
            service_name: String::new(),
            registry_ttl_secs: portcullis_discovery::etcd::DEFAULT_TTL.as_secs(),
            registry_weight: 1,
            deregister_delay_ms: 1_000,
            traefik_root_key: String::new(),
            metrics_port: String::new(),
            otlp_endpoint: String::new(),
            otlp_export_interval_ms: 5_000,
        }
    }
}

impl CommonConfig {
    /// The address to bind: `port` parsed, host 127.0.0.1 unless `port` names one.
    pub fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_listen_addr(&self.port)
    }

    /// The address of the metrics listener, when `metricsPort` asks for one of its own.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.metrics_port.trim().is_empty() {
            return Ok(None);
        }
        parse_listen_addr(&self.metrics_port).map(Some)
    }

    /// The request deadline (at least a second).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// The connection limits of [`serve`](crate::server::serve) (each at least 1).
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        crate::server::ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }

    /// True when a `MongoDB` store is configured (`MONGODB_URI` or `mgAddrs`).
    pub fn uses_mongodb(&self) -> bool {
        self.mongodb_uri.is_some() || !self.mg_addrs.trim().is_empty()
    }

    /// True when a service registry is configured (`registryAddrs`).
    pub fn uses_registry(&self) -> bool {
        !self.registry_addrs.is_empty()
    }

    /// The registry lease's time to live (at least 2 s, etcd's minimum here).
    pub fn registry_ttl(&self) -> Duration {
        Duration::from_secs(self.registry_ttl_secs.max(2))
    }

    /// The pause between leaving the registry and refusing connections.
    pub fn deregister_delay(&self) -> Duration {
        Duration::from_millis(self.deregister_delay_ms)
    }

    /// The OTLP/HTTP base URL spans are exported to, if any (`otlpEndpoint`).
    pub fn otlp_endpoint(&self) -> Option<&str> {
        Some(self.otlp_endpoint.trim()).filter(|url| !url.is_empty())
    }

    /// The pause between two span exports (at least 10 ms).
    pub fn otlp_export_interval(&self) -> Duration {
        Duration::from_millis(self.otlp_export_interval_ms.max(10))
    }

    /// The audience to put in and check on tokens, if any.
    pub fn audience(&self) -> Option<&str> {
        Some(self.audience.trim()).filter(|a| !a.is_empty())
    }
}

//! Service configuration: the seed's `config/config.json` keys (camelCase), then the
//! environment on top.
//!
//! Sources, later ones winning:
//! 1. built-in defaults (so a fresh machine needs no file at all);
//! 2. the JSON file: `PORTCULLIS_CONFIG`, else `config/<service>.json` in the working
//!    directory, else the one shipped in this repository;
//! 3. `PORTCULLIS_<KEY_IN_UPPER_SNAKE>` (`PORTCULLIS_PORT=9000`,
//!    `PORTCULLIS_MG_DB_NAME=movies`, ...);
//! 4. secrets (`jwtSecretPassword`, `mgDbPassword`, `adminPassword`) read raw from
//!    `PORTCULLIS_<KEY>` or from the file named by `PORTCULLIS_<KEY>_FILE`, so they need not
//!    sit in a config file (the shipped files hold none);
//! 5. `MONGODB_URI`, which wins over `mgAddrs`/`mgDbUsername`/`mgDbPassword`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Json, Serialized};
use serde::{Deserialize, Deserializer, Serialize};

/// The prefix of every configuration variable.
const ENV_PREFIX: &str = "PORTCULLIS_";

/// Keys whose values are secrets: never parsed by figment (a password may look like a
/// TOML array) and never printed.
const SECRET_KEYS: [&str; 3] = ["jwtSecretPassword", "mgDbPassword", "adminPassword"];

/// Everything a service reads at start-up. Unknown keys are ignored, so one file may
/// serve both services as the seed's did.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Config {
    /// `":8808"`, `"8808"` or `"127.0.0.1:8808"`; 0 picks a free port.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) port: String,
    /// Human-readable logs on stderr.
    pub(crate) enable_gin_console_log: bool,
    /// JSON-lines logs to `logFilename`, rotated by size.
    pub(crate) enable_gin_file_log: bool,
    /// The log file, when file logging is on.
    pub(crate) log_filename: PathBuf,
    /// Rotate the log file past this many megabytes.
    pub(crate) log_max_size: u64,
    /// Keep at most this many rotated files (0: keep all).
    pub(crate) log_max_backups: usize,
    /// Delete rotated files older than this many days (0: never).
    pub(crate) log_max_age: u64,
    /// `host:port[,host:port...]` of `MongoDB`; empty means the in-memory store.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) mg_addrs: String,
    /// The database name.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) mg_db_name: String,
    /// The `MongoDB` user, if the server needs one.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) mg_db_username: String,
    /// The `MongoDB` password (a secret).
    #[serde(skip_serializing)]
    pub(crate) mg_db_password: Option<Secret>,
    /// The seed's shared HS256 secret. When set, tokens are HS256 (the seed's mode).
    #[serde(skip_serializing)]
    pub(crate) jwt_secret_password: Option<Secret>,
    /// The `iss` of issued tokens, checked by the guard.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) issuer: String,
    /// The `aud` of issued tokens, checked by the guard; empty means none.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) audience: String,
    /// Where the IAM (user service) listens, for JWKS and the login proxy.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) auth_addr: String,
    /// Sent back in `x-instance-id` on every response, to tell instances apart behind a
    /// load balancer.
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) instance_id: String,
    /// An Ed25519 private key (PKCS#8 PEM) for the IAM; absent: one is generated.
    pub(crate) signing_key_file: Option<PathBuf>,
    /// The password of the bootstrap `admin` account (a secret).
    #[serde(skip_serializing)]
    pub(crate) admin_password: Option<Secret>,
    /// Whole-request deadline in seconds.
    pub(crate) request_timeout_secs: u64,
    /// Largest accepted request body in bytes.
    pub(crate) body_limit_bytes: usize,
    /// Movie service: how long `/api/v1/login` waits for the IAM, in milliseconds.
    pub(crate) login_call_timeout_ms: u64,
    /// Movie service: failed IAM calls in a row that open the login breaker.
    pub(crate) login_max_failures: u32,
    /// Movie service: how long the login breaker stays open before a trial call, in
    /// milliseconds (doubled after each failed trial, up to 60 s).
    pub(crate) login_reset_timeout_ms: u64,
    /// The full `MongoDB` URI (from `MONGODB_URI`); wins over `mgAddrs`.
    #[serde(skip)]
    pub(crate) mongodb_uri: Option<Secret>,
    /// Where the file part of this configuration came from, for the start-up log.
    #[serde(skip)]
    pub(crate) source: Option<PathBuf>,
}

impl Default for Config {
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
            jwt_secret_password: None,
            issuer: "seedotech".to_owned(),
            audience: "movies".to_owned(),
            auth_addr: "http://127.0.0.1:8808".to_owned(),
            instance_id: String::new(),
            signing_key_file: None,
            admin_password: None,
            request_timeout_secs: 10,
            body_limit_bytes: 64 * 1024,
            login_call_timeout_ms: 5_000,
            login_max_failures: 3,
            login_reset_timeout_ms: 10_000,
            mongodb_uri: None,
            source: None,
        }
    }
}

impl fmt::Debug for Config {
    // Secrets show as `Some(<redacted>)` thanks to `Secret`'s own Debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("enableGinConsoleLog", &self.enable_gin_console_log)
            .field("enableGinFileLog", &self.enable_gin_file_log)
            .field("logFilename", &self.log_filename)
            .field("mgAddrs", &self.mg_addrs)
            .field("mgDbName", &self.mg_db_name)
            .field("mgDbPassword", &self.mg_db_password)
            .field("jwtSecretPassword", &self.jwt_secret_password)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("authAddr", &self.auth_addr)
            .field("instanceId", &self.instance_id)
            .field("mongodbUri", &self.mongodb_uri)
            .finish_non_exhaustive()
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file or an environment value did not parse.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// `PORTCULLIS_CONFIG` names a file that does not exist.
    #[error("PORTCULLIS_CONFIG names {0}, which does not exist")]
    MissingFile(PathBuf),
    /// A `*_FILE` secret could not be read.
    #[error("cannot read the secret file {path}: {source}")]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `port` is neither a number nor `host:port`.
    #[error("invalid port {0:?}: expected \":8808\", \"8808\" or \"127.0.0.1:8808\"")]
    Port(String),
}

impl Config {
    /// Loads the configuration of `service` (`"movie_service"`, `"user_service"`) from its
    /// file and the process environment.
    pub(crate) fn load(service: &str) -> Result<Self, ConfigError> {
        Self::load_from(service, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], with the non-figment environment look-ups (`PORTCULLIS_CONFIG`,
    /// secrets, `MONGODB_URI`) going through `var`, so tests need not touch the process
    /// environment.
    fn load_from(service: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file = match var("PORTCULLIS_CONFIG") {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(ConfigError::MissingFile(path));
                }
                Some(path)
            }
            None => default_file(service),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &file {
            figment = figment.merge(Json::file(file));
        }
        figment = figment.merge(env_provider());
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.source = file;

        // Secrets: the environment beats a file; the file config is the last resort.
        config.jwt_secret_password =
            secret(&var, "JWT_SECRET_PASSWORD")?.or(config.jwt_secret_password.take());
        config.mg_db_password = secret(&var, "MG_DB_PASSWORD")?.or(config.mg_db_password.take());
        config.admin_password = secret(&var, "ADMIN_PASSWORD")?.or(config.admin_password.take());
        config.mongodb_uri = var("MONGODB_URI")
            .filter(|uri| !uri.trim().is_empty())
            .map(Secret::new);
        // Empty strings in a file mean "not set", as in the seed's files.
        for secret in [
            &mut config.jwt_secret_password,
            &mut config.mg_db_password,
            &mut config.admin_password,
        ] {
            if secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
                *secret = None;
            }
        }
        config.socket_addr()?;
        Ok(config)
    }

    /// The address to bind: `port` parsed, host 127.0.0.1 unless `port` names one.
    pub(crate) fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_listen_addr(&self.port)
    }

    /// The request deadline.
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// True when a `MongoDB` store is configured (`MONGODB_URI` or `mgAddrs`).
    pub(crate) fn uses_mongodb(&self) -> bool {
        self.mongodb_uri.is_some() || !self.mg_addrs.trim().is_empty()
    }

    /// The audience to put in and check on tokens, if any.
    pub(crate) fn audience(&self) -> Option<&str> {
        Some(self.audience.trim()).filter(|a| !a.is_empty())
    }
}

/// `PORTCULLIS_MG_DB_NAME=x` becomes `mgDbName = x`; secrets and the non-key variables are
/// left out (they are read raw).
fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter_map(|key| {
            let name = camel_case(key.as_str());
            let secret = SECRET_KEYS
                .iter()
                .any(|s| name == *s || name == format!("{s}File"));
            (!secret && name != "config").then(|| name.into())
        })
        // Last: figment's `filter_map` turns lowercasing back on, which would undo the
        // camelCase.
        .lowercase(false)
}

/// `MG_DB_NAME` -> `mgDbName`.
fn camel_case(upper_snake: &str) -> String {
    let mut out = String::with_capacity(upper_snake.len());
    for (i, word) in upper_snake.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.push_str(chars.as_str());
            }
        }
    }
    out
}

/// `PORTCULLIS_<KEY>`, else the contents of the file named by `PORTCULLIS_<KEY>_FILE`.
fn secret(var: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<Secret>, ConfigError> {
    if let Some(value) = var(&format!("{ENV_PREFIX}{key}")) {
        return Ok(Some(Secret::new(value)));
    }
    let Some(path) = var(&format!("{ENV_PREFIX}{key}_FILE")) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    match std::fs::read_to_string(&path) {
        // A trailing newline is an editor's, not part of the secret.
        Ok(value) => Ok(Some(Secret::new(
            value.trim_end_matches(['\r', '\n']).to_owned(),
        ))),
        Err(source) => Err(ConfigError::SecretFile { path, source }),
    }
}

/// `config/<service>.json` in the working directory, else the copy shipped beside this
/// source (so `cargo run --example` works from any directory of the checkout).
fn default_file(service: &str) -> Option<PathBuf> {
    let name = format!("config/{service}.json");
    let local = PathBuf::from(&name);
    if local.is_file() {
        return Some(local);
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    shipped.is_file().then_some(shipped)
}

/// Parses `":8808"`, `"8808"`, `"127.0.0.1:8808"` or `"[::1]:8808"`.
pub(crate) fn parse_listen_addr(port: &str) -> Result<SocketAddr, ConfigError> {
    let trimmed = port.trim();
    let invalid = || ConfigError::Port(port.to_owned());
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if let Some(number) = trimmed.strip_prefix(':') {
        return number
            .parse()
            .map(|p| SocketAddr::new(localhost, p))
            .map_err(|_| invalid());
    }
    if let Ok(number) = trimmed.parse::<u16>() {
        return Ok(SocketAddr::new(localhost, number));
    }
    trimmed.parse().map_err(|_| invalid())
}

/// A string that must not be logged: its `Debug` prints `<redacted>`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub(crate) fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Accepts `"8808"` as well as `8808` (environment values that look like numbers arrive as
/// numbers).
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Unsigned(u64),
        Signed(i64),
        Float(f64),
        Flag(bool),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(s) => s,
        Raw::Unsigned(n) => n.to_string(),
        Raw::Signed(n) => n.to_string(),
        Raw::Float(n) => n.to_string(),
        Raw::Flag(b) => b.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_snake_keys_become_camel_case() {
        assert_eq!(camel_case("MG_DB_NAME"), "mgDbName");
        assert_eq!(camel_case("PORT"), "port");
        assert_eq!(camel_case("ENABLE_GIN_FILE_LOG"), "enableGinFileLog");
    }

    #[test]
    fn port_accepts_the_three_seed_forms() {
        assert_eq!(
            parse_listen_addr(":8808").unwrap().to_string(),
            "127.0.0.1:8808"
        );
        assert_eq!(
            parse_listen_addr("8809").unwrap().to_string(),
            "127.0.0.1:8809"
        );
        assert_eq!(
            parse_listen_addr("0.0.0.0:1").unwrap().to_string(),
            "0.0.0.0:1"
        );
        assert!(parse_listen_addr("eighty").is_err());
    }

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("portcullis-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn vars(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_shipped_config_files_load_and_hold_no_secret() {
        for (service, port) in [
            ("movie_service", "127.0.0.1:8809"),
            ("user_service", "127.0.0.1:8808"),
        ] {
            let config = Config::load_from(service, |_| None).unwrap();
            assert!(
                config.source.is_some(),
                "{service}: its config file was not found"
            );
            assert_eq!(config.socket_addr().unwrap().to_string(), port);
            assert!(
                !config.uses_mongodb(),
                "{service}: the default store is memory"
            );
            assert!(config.jwt_secret_password.is_none() && config.mg_db_password.is_none());

            let raw: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(config.source.unwrap()).unwrap())
                    .unwrap();
            for key in SECRET_KEYS {
                assert!(
                    raw.get(key).is_none(),
                    "{service}: the shipped file holds {key}"
                );
            }
        }
    }

    #[test]
    fn the_seeds_own_config_file_loads() {
        let file = temp_file(
            "seed.json",
            r#"{"port": ":8808", "enableGinConsoleLog": true, "enableGinFileLog": false,
                "logFilename": "logs/server.log", "logMaxSize": 1, "logMaxBackups": 3,
                "logMaxAge": 7, "mgAddrs": "127.0.0.1:27017", "mgDbName": "go-microservices",
                "mgDbUsername": "", "mgDbPassword": "", "jwtSecretPassword": "raycad",
                "issuer": "seedotech", "authAddr": "http://127.0.0.1:8808"}"#,
        );
        let config = Config::load_from(
            "movie_service",
            vars(&[("PORTCULLIS_CONFIG", file.display().to_string())]),
        )
        .unwrap();
        assert_eq!(config.socket_addr().unwrap().port(), 8808);
        assert_eq!(config.mg_db_name, "go-microservices");
        assert!(config.uses_mongodb());
        assert_eq!(
            config.jwt_secret_password.as_ref().unwrap().expose(),
            "raycad"
        );
        assert!(
            config.mg_db_password.is_none(),
            "an empty password means none"
        );
        assert_eq!(
            (
                config.log_max_size,
                config.log_max_backups,
                config.log_max_age
            ),
            (1, 3, 7)
        );
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn secrets_come_from_the_environment_or_a_file_it_names() {
        let secret_file = temp_file("secret", "from-a-file\n");
        let config = Config::load_from(
            "movie_service",
            vars(&[
                (
                    "PORTCULLIS_JWT_SECRET_PASSWORD_FILE",
                    secret_file.display().to_string(),
                ),
                ("PORTCULLIS_ADMIN_PASSWORD", "[not, toml]".to_owned()),
                (
                    "MONGODB_URI",
                    "mongodb://u:p@127.0.0.1:27017/movies".to_owned(),
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.jwt_secret_password.as_ref().unwrap().expose(),
            "from-a-file"
        );
        assert_eq!(
            config.admin_password.as_ref().unwrap().expose(),
            "[not, toml]"
        );
        assert!(config.uses_mongodb());
        std::fs::remove_file(secret_file).unwrap();
    }

    #[test]
    fn an_unreadable_secret_file_or_a_missing_config_file_is_an_error() {
        let missing = std::env::temp_dir().join("portcullis-no-such-file");
        let secret = Config::load_from(
            "movie_service",
            vars(&[(
                "PORTCULLIS_MG_DB_PASSWORD_FILE",
                missing.display().to_string(),
            )]),
        );
        assert!(matches!(secret, Err(ConfigError::SecretFile { .. })));
        let file = Config::load_from(
            "movie_service",
            vars(&[("PORTCULLIS_CONFIG", missing.display().to_string())]),
        );
        assert!(matches!(file, Err(ConfigError::MissingFile(_))));
    }

    #[test]
    fn the_log_shows_mongodb_hosts_but_never_credentials() {
        let config = Config {
            mongodb_uri: Some(Secret::new(
                "mongodb://user:pa55@db1:27017,db2/movies?x=1".into(),
            )),
            ..Config::default()
        };
        let target = super::super::server::mongodb_target(&config);
        assert_eq!(target, "MONGODB_URI hosts db1:27017,db2");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = Config {
            jwt_secret_password: Some(Secret::new("hunter2".to_owned())),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}

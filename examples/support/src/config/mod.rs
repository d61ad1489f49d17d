//! Service configuration: the original project's `config/config.json` keys (camelCase),
//! then the environment on top.
//!
//! A service's configuration is a [`Config`]: the keys both services read
//! ([`CommonConfig`]) and its own ([`MovieSettings`] or [`UserSettings`]). Its `Debug`
//! shows every field, secrets as `"<redacted>"`, and is what the services log as their
//! effective configuration.
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

mod common;
mod deploy;
mod secret;
mod services;
mod sources;

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Json};

pub use common::CommonConfig;
pub use deploy::ConsoleLogFormat;
pub use secret::Secret;
pub use services::{MovieSettings, ServiceSettings, UserSettings};
pub use sources::parse_listen_addr;

/// The movie service's configuration.
pub type MovieServiceConfig = Config<MovieSettings>;

/// The user service's configuration.
pub type UserServiceConfig = Config<UserSettings>;

/// Everything one service reads at start-up.
#[derive(Clone, Debug, Default)]
pub struct Config<S> {
    /// The keys every service reads.
    pub common: CommonConfig,
    /// The keys only this service reads.
    pub service: S,
    /// Where the file part of this configuration came from, if a file was read.
    pub source: Option<PathBuf>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
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
    /// `port` binds every interface but `advertiseUrl` does not say where to call.
    #[error(
        "port binds every interface ({0}): set advertiseUrl (PORTCULLIS_ADVERTISE_URL) to the \
         URL others should call, e.g. http://user-service:8808"
    )]
    AdvertiseUrlMissing(std::net::SocketAddr),
    /// `advertiseUrl` is not an absolute `http(s)://` URL.
    #[error("invalid advertiseUrl {0:?}: expected an absolute http:// or https:// URL")]
    AdvertiseUrl(String),
    /// `otlpEndpoint` cannot be used: not an `http(s)://` URL, plain `http://` off
    /// loopback without `allowInsecureHttp`, or the `otel` feature is not compiled in.
    #[error("invalid otlpEndpoint {url:?}: {reason}")]
    OtlpEndpoint {
        /// The configured value.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl<S: ServiceSettings> Config<S> {
    /// The name this service registers under: `serviceName`, else the service's own.
    pub fn service_name(&self) -> &str {
        match self.common.service_name.trim() {
            "" => S::SERVICE,
            name => name,
        }
    }

    /// Loads the configuration of the service `S` from its file and the process
    /// environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(&|name| std::env::var(name).ok())
    }

    /// As [`Config::load`], with every environment look-up outside figment
    /// (`PORTCULLIS_CONFIG`, secrets, `MONGODB_URI`) going through `var`, so tests need not
    /// touch the process environment.
    pub fn load_from(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file = match var("PORTCULLIS_CONFIG") {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(ConfigError::MissingFile(path));
                }
                Some(path)
            }
            None => sources::default_file(S::SERVICE),
        };
        // Missing keys take the structs' defaults (`#[serde(default)]`); each struct picks
        // its own keys out of the one figment and ignores the rest.
        let mut figment = Figment::new();
        if let Some(file) = &file {
            figment = figment.merge(Json::file(file));
        }
        let figment = figment.merge(sources::env_provider());
        let mut common: CommonConfig = figment.extract().map_err(Box::new)?;
        let mut service: S = figment.extract().map_err(Box::new)?;

        // Secrets: the environment beats a file; the file config is the last resort.
        common.jwt_secret_password = sources::secret(
            var,
            "JWT_SECRET_PASSWORD",
            common.jwt_secret_password.take(),
        )?;
        common.mg_db_password =
            sources::secret(var, "MG_DB_PASSWORD", common.mg_db_password.take())?;
        common.mongodb_uri = var("MONGODB_URI")
            .filter(|uri| !uri.trim().is_empty())
            .map(Secret::new);
        service.read_secrets(var)?;
        deploy::check_advertise_url(common.socket_addr()?, &common.advertise_url)?;
        deploy::check_otlp_endpoint(&common)?;
        Ok(Self {
            common,
            service,
            source: file,
        })
    }
}

#[cfg(test)]
mod tests;

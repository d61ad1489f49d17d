//! The keys only one service reads: [`MovieSettings`] and [`UserSettings`].

use std::path::PathBuf;
use std::time::Duration;

use portcullis_iam::IpRange;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::sources::{secret, string_or_number};
use super::{ConfigError, Secret};

/// What a service adds to [`CommonConfig`](super::CommonConfig): its name (which picks
/// `config/<name>.json`) and its own keys.
pub trait ServiceSettings: serde::de::DeserializeOwned + Default + Clone + std::fmt::Debug {
    /// The service's name: `"movie_service"`, `"user_service"`.
    const SERVICE: &'static str;

    /// Reads this service's secrets, which figment never sees (see
    /// [`Config::load`](super::Config::load)). `var` looks up an environment variable.
    fn read_secrets(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let _ = var;
        Ok(())
    }
}

/// The movie service's own keys: where the IAM is, and the login proxy's breaker.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MovieSettings {
    /// Where the IAM (user service) listens, for JWKS and the login proxy; several base
    /// URLs may be given, separated by commas.
    #[serde(deserialize_with = "string_or_number")]
    pub auth_addr: String,
    /// The IAM's name in the service registry (`registryAddrs`): with a registry, the
    /// login proxy and the token guard's keys follow its instances instead of `authAddr`.
    #[serde(deserialize_with = "string_or_number")]
    pub auth_service_name: String,
    /// How long `/api/v1/login` waits for the IAM, in milliseconds.
    pub login_call_timeout_ms: u64,
    /// Failed IAM calls in a row that open the login breaker.
    pub login_max_failures: u32,
    /// How long the login breaker stays open before a trial call, in milliseconds
    /// (doubled after each failed trial, up to 60 s).
    pub login_reset_timeout_ms: u64,
    /// Serves `GET /breakers`, a live page of the login proxy's breakers (one per IAM
    /// instance). Off by default: the page shows the IAM instances' internal addresses
    /// to anyone who can reach the service (docs/security.md).
    pub breaker_view_enabled: bool,
}

impl Default for MovieSettings {
    fn default() -> Self {
        Self {
            auth_addr: "http://127.0.0.1:8808".to_owned(),
            auth_service_name: UserSettings::SERVICE.to_owned(),
            login_call_timeout_ms: 5_000,
            login_max_failures: 3,
            login_reset_timeout_ms: 10_000,
            breaker_view_enabled: false,
        }
    }
}

impl MovieSettings {
    /// The login call deadline (at least a millisecond).
    pub fn login_call_timeout(&self) -> Duration {
        Duration::from_millis(self.login_call_timeout_ms.max(1))
    }

    /// The login breaker's first open period (at least a millisecond).
    pub fn login_reset_timeout(&self) -> Duration {
        Duration::from_millis(self.login_reset_timeout_ms.max(1))
    }
}

impl ServiceSettings for MovieSettings {
    const SERVICE: &'static str = "movie_service";
}

/// The user service's own keys: its signing key, the first administrator, and the
/// reverse proxies whose `X-Forwarded-For` the login throttle believes.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserSettings {
    /// An Ed25519 private key (PKCS#8 PEM); absent: one is generated at start-up.
    pub signing_key_file: Option<PathBuf>,
    /// The password of the bootstrap `admin` account (a secret).
    pub admin_password: Option<Secret>,
    /// Addresses or CIDR ranges of the proxies in front of the IAM (nginx, the movie
    /// service's login proxy): a JSON list, or one comma-separated string
    /// (`PORTCULLIS_TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8`). Empty: `X-Forwarded-For` is
    /// ignored and the TCP peer is the client.
    #[serde(deserialize_with = "ip_ranges")]
    pub trusted_proxies: Vec<IpRange>,
    /// How many trusted proxies a request passes at most, i.e. how many `X-Forwarded-For`
    /// entries are taken from the right.
    pub forwarded_hops: usize,
    /// The id of an OAuth 2.0 client registered (or replaced) at every start, for the
    /// examples' service clients; empty: none.
    #[serde(deserialize_with = "string_or_number")]
    pub bootstrap_client_id: String,
    /// That client's secret (a secret, at least 32 bytes: environment or file, like the
    /// other secrets, `PORTCULLIS_BOOTSTRAP_CLIENT_SECRET`).
    pub bootstrap_client_secret: Option<Secret>,
    /// The scopes that client may ask for: a list, or one space- or comma-separated string.
    #[serde(deserialize_with = "scope_list")]
    pub bootstrap_client_scopes: Vec<String>,
    /// The key client secrets and refresh tokens are hashed with (a secret, at least 32
    /// bytes, the same on every IAM instance of a fleet, `PORTCULLIS_OAUTH_HASH_KEY`);
    /// none: one generated at start-up, valid for this process only.
    pub oauth_hash_key: Option<Secret>,
}

impl Default for UserSettings {
    fn default() -> Self {
        Self {
            signing_key_file: None,
            admin_password: None,
            trusted_proxies: Vec::new(),
            forwarded_hops: 1,
            bootstrap_client_id: String::new(),
            bootstrap_client_secret: None,
            bootstrap_client_scopes: vec!["movies:read".to_owned(), "movies:write".to_owned()],
            oauth_hash_key: None,
        }
    }
}

/// `["a", "b"]`, or `"a b"` / `"a,b"` (an environment variable's form).
fn scope_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    let entries = match Raw::deserialize(deserializer)? {
        Raw::List(list) => list,
        Raw::Text(text) => text
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(str::to_owned)
            .collect(),
    };
    Ok(entries
        .into_iter()
        .map(|scope| scope.trim().to_owned())
        .filter(|scope| !scope.is_empty())
        .collect())
}

/// `["127.0.0.1", "10.0.0.0/8"]` or `"127.0.0.1, 10.0.0.0/8"`; an entry that is not an
/// address or a range is an error naming it.
fn ip_ranges<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpRange>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    let entries = match Raw::deserialize(deserializer)? {
        Raw::List(list) => list,
        Raw::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    entries
        .iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry.parse().map_err(|_| {
                D::Error::custom(format!(
                    "trustedProxies: {entry:?} is not an IP address or a CIDR range \
                     (e.g. \"127.0.0.1\" or \"10.0.0.0/8\")"
                ))
            })
        })
        .collect()
}

impl ServiceSettings for UserSettings {
    const SERVICE: &'static str = "user_service";

    fn read_secrets(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        self.admin_password = secret(var, "ADMIN_PASSWORD", self.admin_password.take())?;
        self.bootstrap_client_secret = secret(
            var,
            "BOOTSTRAP_CLIENT_SECRET",
            self.bootstrap_client_secret.take(),
        )?;
        self.oauth_hash_key = secret(var, "OAUTH_HASH_KEY", self.oauth_hash_key.take())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, UserServiceConfig};

    fn load(json: &str) -> Result<UserServiceConfig, ConfigError> {
        let path = std::env::temp_dir().join(format!(
            "portcullis-{}-proxies-{}.json",
            std::process::id(),
            json.len()
        ));
        std::fs::write(&path, json).unwrap();
        let file = path.display().to_string();
        let config = UserServiceConfig::load_from(&|name| {
            (name == "PORTCULLIS_CONFIG").then(|| file.clone())
        });
        std::fs::remove_file(path).unwrap();
        config
    }

    #[test]
    fn trusted_proxies_are_a_list_or_a_comma_separated_string() {
        let list =
            load(r#"{"trustedProxies": ["127.0.0.1", "10.0.0.0/8"], "forwardedHops": 3}"#).unwrap();
        let text = load(r#"{"trustedProxies": " 127.0.0.1 , 10.0.0.0/8 "}"#).unwrap();
        assert_eq!(list.service.trusted_proxies, text.service.trusted_proxies);
        assert_eq!(list.service.trusted_proxies.len(), 2);
        assert_eq!(list.service.forwarded_hops, 3);
        assert_eq!(text.service.forwarded_hops, 1, "the default");
        assert!(UserSettings::default().trusted_proxies.is_empty());
    }

    #[test]
    fn the_bootstrap_client_is_read_with_its_secret_from_the_environment() {
        let path =
            std::env::temp_dir().join(format!("portcullis-{}-oauth.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"bootstrapClientId": "recommender", "bootstrapClientScopes": "movies:read movies:write"}"#,
        )
        .unwrap();
        let file = path.display().to_string();
        let config = UserServiceConfig::load_from(&|name| match name {
            "PORTCULLIS_CONFIG" => Some(file.clone()),
            "PORTCULLIS_BOOTSTRAP_CLIENT_SECRET" => {
                Some("a client secret of 32 bytes or more".into())
            }
            _ => None,
        })
        .unwrap();
        std::fs::remove_file(path).unwrap();
        assert_eq!(config.service.bootstrap_client_id, "recommender");
        assert_eq!(
            config.service.bootstrap_client_scopes,
            ["movies:read", "movies:write"]
        );
        let secret = config.service.bootstrap_client_secret.as_ref().unwrap();
        assert_eq!(secret.expose(), "a client secret of 32 bytes or more");
        assert!(
            !format!("{config:?}").contains("32 bytes"),
            "the secret is redacted"
        );
    }

    #[test]
    fn an_invalid_trusted_proxy_is_an_error_naming_the_key_and_the_entry() {
        let error = load(r#"{"trustedProxies": "127.0.0.1, 10.0.0.0/33"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("trustedProxies") && error.contains("10.0.0.0/33"),
            "{error}"
        );
    }
}

//! The `MongoDB` connection both services may use, and a credential-free description of it
//! for the start-up log.

use std::time::Duration;

use mongodb::options::{ClientOptions, Credential};
use mongodb::{Client, Database};

use crate::config::CommonConfig;

/// How long the `MongoDB` driver may look for a server or open a connection before a call
/// fails: short, so that `/readyz` and requests answer instead of hanging.
const MONGO_TIMEOUT: Duration = Duration::from_secs(3);

/// The `MongoDB` database named by the configuration: `MONGODB_URI` (its database, else
/// `mgDbName`), or `mgAddrs` with `mgDbUsername`/`mgDbPassword`.
///
/// The driver connects lazily: this fails only on a malformed address, never because the
/// server is down (then calls fail after 3 s and `/readyz` says 503).
pub async fn connect_mongodb(
    config: &CommonConfig,
    app_name: &str,
) -> Result<Database, mongodb::error::Error> {
    let mut options = if let Some(uri) = &config.mongodb_uri {
        ClientOptions::parse(uri.expose()).await?
    } else {
        let mut options =
            ClientOptions::parse(format!("mongodb://{}", config.mg_addrs.trim())).await?;
        if !config.mg_db_username.is_empty() {
            let password = config
                .mg_db_password
                .as_ref()
                .map(|p| p.expose().to_owned());
            options.credential = Some(
                Credential::builder()
                    .username(config.mg_db_username.clone())
                    .password(password)
                    .build(),
            );
        }
        options
    };
    options.app_name = Some(app_name.to_owned());
    // Timeouts given in the URI win; otherwise short ones, not the driver's 30 s.
    options.connect_timeout.get_or_insert(MONGO_TIMEOUT);
    options
        .server_selection_timeout
        .get_or_insert(MONGO_TIMEOUT);
    let db_name = options
        .default_database
        .clone()
        .unwrap_or_else(|| config.mg_db_name.clone());
    let client = Client::with_options(options)?;
    Ok(client.database(&db_name))
}

/// The address a store was chosen from, for the start-up log, without credentials.
pub fn mongodb_target(config: &CommonConfig) -> String {
    match &config.mongodb_uri {
        // Only the hosts: the URI may carry a password.
        Some(uri) => {
            let after_scheme = uri.expose().split_once("://").map_or("", |(_, rest)| rest);
            let hosts = after_scheme
                .rsplit_once('@')
                .map_or(after_scheme, |(_, h)| h);
            let hosts = hosts.split(['/', '?']).next().unwrap_or_default();
            format!("MONGODB_URI hosts {hosts}")
        }
        None => format!("mgAddrs {}", config.mg_addrs.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn the_log_shows_mongodb_hosts_but_never_credentials() {
        let config = CommonConfig {
            mongodb_uri: Some(Secret::new("mongodb://user:pa55@db1:27017,db2/movies?x=1")),
            ..CommonConfig::default()
        };
        assert_eq!(mongodb_target(&config), "MONGODB_URI hosts db1:27017,db2");
    }
}

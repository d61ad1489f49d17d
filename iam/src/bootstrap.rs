//! Creating the first admin user when the store is empty.

use std::fmt;
use std::path::PathBuf;

use crate::password::{Passwords, base64_url};
use crate::store::{NewUser, UserStore};
use crate::{ConfigError, IamError};

/// The name of the user the bootstrap creates.
pub const ADMIN_NAME: &str = "admin";

/// How the first admin user is made when the store has no users at all.
///
/// Whatever the choice, it is safe when several instances start at once on one
/// database: the store's unique name index lets exactly one create succeed, the others
/// see a duplicate and carry on.
///
/// Nothing configured never gives a known password: [`Auto`](Self::Auto) makes a random
/// one and prints it once. The well-known `admin`/`admin` of the original
/// go-microservices project is only there on request
/// ([`dev_default_credentials`](Self::dev_default_credentials)), for local demos.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum AdminBootstrap {
    /// Nothing configured (the default): a random password, printed once to standard
    /// error (not to the log) and never again, for any store.
    #[default]
    Auto,
    /// This password (it must satisfy the password policy).
    Password(String),
    /// The password is the content of this file (trailing whitespace dropped), e.g. a
    /// container secret.
    PasswordFile(PathBuf),
    /// The password is the value of this environment variable.
    PasswordEnv(String),
    /// **Dangerous**: the password `admin`, known to everyone, with a loud warning in the
    /// log. For local demos on an in-memory store only: building with a persistent store
    /// fails. Made by [`AdminBootstrap::dev_default_credentials`].
    DangerousDevDefaultCredentials,
    /// Create no user.
    Disabled,
}

impl AdminBootstrap {
    /// **Dangerous**: `admin`/`admin`, as the original go-microservices project had it,
    /// for local demos on an in-memory store. Logs a loud warning when it creates the user;
    /// a persistent store refuses it at build time ([`ConfigError::AdminBootstrap`]).
    pub fn dev_default_credentials() -> Self {
        Self::DangerousDevDefaultCredentials
    }
}

impl fmt::Debug for AdminBootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("Auto"),
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::PasswordFile(path) => f.debug_tuple("PasswordFile").field(path).finish(),
            Self::PasswordEnv(name) => f.debug_tuple("PasswordEnv").field(name).finish(),
            Self::DangerousDevDefaultCredentials => f.write_str("DangerousDevDefaultCredentials"),
            Self::Disabled => f.write_str("Disabled"),
        }
    }
}

/// What the bootstrap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bootstrapped {
    /// The store already had users, or bootstrap is disabled.
    Skipped,
    /// This instance created the admin user.
    Created,
    /// Another instance created it first.
    LostRace,
}

enum Secret {
    Configured(String),
    DevDefault,
    Random(String),
}

impl AdminBootstrap {
    fn secret(&self) -> Result<Option<Secret>, ConfigError> {
        Ok(Some(match self {
            Self::Disabled => return Ok(None),
            Self::Password(password) => Secret::Configured(password.clone()),
            Self::PasswordFile(path) => Secret::Configured(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        ConfigError::AdminBootstrap(format!(
                            "cannot read the admin password file {}: {e}",
                            path.display()
                        ))
                    })?
                    .trim_end()
                    .to_owned(),
            ),
            Self::PasswordEnv(name) => Secret::Configured(std::env::var(name).map_err(|_| {
                ConfigError::AdminBootstrap(format!(
                    "the admin password variable {name} is not set"
                ))
            })?),
            Self::DangerousDevDefaultCredentials => Secret::DevDefault,
            Self::Auto => {
                let mut bytes = [0u8; 18];
                getrandom::fill(&mut bytes)
                    .map_err(|e| ConfigError::AdminBootstrap(e.to_string()))?;
                Secret::Random(base64_url(&bytes))
            }
        }))
    }

    pub(crate) async fn run(
        &self,
        store: &dyn UserStore,
        passwords: &Passwords,
    ) -> Result<Bootstrapped, ConfigError> {
        if matches!(self, Self::DangerousDevDefaultCredentials) && store.is_persistent() {
            // Checked before the store is looked at, so that the mistake shows on the
            // first start, not only on an empty database.
            return Err(ConfigError::AdminBootstrap(
                "admin/admin (dev_default_credentials) is refused for a persistent store: \
                 configure an admin password"
                    .to_owned(),
            ));
        }
        if matches!(self, Self::Disabled) || !store.is_empty().await? {
            return Ok(Bootstrapped::Skipped);
        }
        let Some(secret) = self.secret()? else {
            return Ok(Bootstrapped::Skipped);
        };
        let password = match &secret {
            Secret::Configured(password) => {
                passwords.check(ADMIN_NAME, password).map_err(|e| {
                    ConfigError::AdminBootstrap(format!(
                        "the configured admin password is refused: {e}"
                    ))
                })?;
                password.as_str()
            }
            Secret::DevDefault => ADMIN_NAME,
            Secret::Random(password) => password.as_str(),
        };
        let password_hash = passwords.hash(password).await.map_err(ConfigError::Store)?;
        let created = store
            .create(NewUser {
                name: ADMIN_NAME.to_owned(),
                password_hash,
                roles: vec!["admin".to_owned()],
            })
            .await;
        match created {
            Ok(_) => {}
            Err(IamError::DuplicateName { .. }) => {
                tracing::info!("the admin user was created by another instance");
                return Ok(Bootstrapped::LostRace);
            }
            Err(other) => return Err(ConfigError::Store(other)),
        }
        match secret {
            Secret::Configured(_) => {
                tracing::info!(
                    user = ADMIN_NAME,
                    "created the admin user with the configured password"
                );
            }
            Secret::DevDefault => {
                tracing::warn!(
                    user = ADMIN_NAME,
                    "!!! created the admin user with the password \"admin\" \
                     (dev_default_credentials): anyone can log in as admin. Configure an \
                     admin password for anything but a local demo !!!"
                );
            }
            Secret::Random(password) => {
                tracing::warn!(
                    user = ADMIN_NAME,
                    "created the admin user with a random password, printed once to \
                     standard error; it is not stored anywhere else"
                );
                // Deliberately not through tracing: log lines are kept and shipped, this
                // must be seen once by the operator and nowhere else.
                eprintln!(
                    "\n==== portcullis-iam: initial admin password (shown only once) ====\n\
                     user:     {ADMIN_NAME}\npassword: {password}\n\
                     ==== change it after the first login ====\n"
                );
            }
        }
        Ok(Bootstrapped::Created)
    }
}

//! Creating the first admin user when the store is empty.

use std::fmt;
use std::path::PathBuf;

use crate::IamError;
use crate::password::{Passwords, base64_url};
use crate::store::{NewUser, UserStore};

/// The name of the user the bootstrap creates.
pub const ADMIN_NAME: &str = "admin";

/// How the first admin user is made when the store has no users at all.
///
/// Whatever the choice, it is safe when several instances start at once on one
/// database: the store's unique name index lets exactly one create succeed, the others
/// see a duplicate and carry on.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum AdminBootstrap {
    /// Nothing configured (the default). With a memory store: the seed's `admin`/`admin`,
    /// with a loud warning in the log. With a persistent store: a random password,
    /// printed once to standard error and never again (never `admin`/`admin`).
    #[default]
    Auto,
    /// This password (it must satisfy the password policy).
    Password(String),
    /// The password is the content of this file (trailing whitespace dropped), e.g. a
    /// container secret.
    PasswordFile(PathBuf),
    /// The password is the value of this environment variable.
    PasswordEnv(String),
    /// Create no user.
    Disabled,
}

impl fmt::Debug for AdminBootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("Auto"),
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::PasswordFile(path) => f.debug_tuple("PasswordFile").field(path).finish(),
            Self::PasswordEnv(name) => f.debug_tuple("PasswordEnv").field(name).finish(),
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
    SeedDefault,
    Random(String),
}

impl AdminBootstrap {
    fn secret(&self, persistent: bool) -> Result<Option<Secret>, IamError> {
        Ok(Some(match self {
            Self::Disabled => return Ok(None),
            Self::Password(password) => Secret::Configured(password.clone()),
            Self::PasswordFile(path) => Secret::Configured(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        IamError::Config(format!(
                            "cannot read the admin password file {}: {e}",
                            path.display()
                        ))
                    })?
                    .trim_end()
                    .to_owned(),
            ),
            Self::PasswordEnv(name) => Secret::Configured(std::env::var(name).map_err(|_| {
                IamError::Config(format!("the admin password variable {name} is not set"))
            })?),
            Self::Auto if persistent => {
                let mut bytes = [0u8; 18];
                getrandom::fill(&mut bytes).map_err(|e| IamError::Config(e.to_string()))?;
                Secret::Random(base64_url(&bytes))
            }
            Self::Auto => Secret::SeedDefault,
        }))
    }

    pub(crate) async fn run(
        &self,
        store: &dyn UserStore,
        passwords: &Passwords,
    ) -> Result<Bootstrapped, IamError> {
        if matches!(self, Self::Disabled) || !store.is_empty().await? {
            return Ok(Bootstrapped::Skipped);
        }
        let Some(secret) = self.secret(store.is_persistent())? else {
            return Ok(Bootstrapped::Skipped);
        };
        let password = match &secret {
            Secret::Configured(password) => {
                passwords.check(ADMIN_NAME, password).map_err(|e| {
                    IamError::Config(format!("the configured admin password is refused: {e}"))
                })?;
                password.as_str()
            }
            Secret::SeedDefault => ADMIN_NAME,
            Secret::Random(password) => password.as_str(),
        };
        let password_hash = passwords.hash(password).await?;
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
            Err(other) => return Err(other),
        }
        match secret {
            Secret::Configured(_) => {
                tracing::info!(
                    user = ADMIN_NAME,
                    "created the admin user with the configured password"
                );
            }
            Secret::SeedDefault => {
                tracing::warn!(
                    user = ADMIN_NAME,
                    "!!! created the admin user with the password \"admin\" (the seed's \
                     default) because the store is in memory and no admin password is \
                     configured: anyone can log in as admin. Configure an admin password \
                     for anything but a local demo !!!"
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

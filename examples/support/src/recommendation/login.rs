//! The client's form login at the IAM: at `--iam`, or at whichever IAM instance the
//! service registry lists, through the breaker's balanced client either way.

use std::time::Instant;

use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker};
use portcullis_discovery::EtcdRegistry;

use super::config::Config;
use super::elapsed_ms;
use crate::registry::follow::upstream_changes;

/// The IAM's form-login route, appended to each instance's base URL.
const LOGIN_PATH: &str = "/api/v1/admin/auth";

/// Why a login gave no token.
#[derive(Debug)]
pub enum LoginError {
    /// The IAM said no: wrong user or password. Retrying will not help.
    Rejected,
    /// The IAM could not be reached or failed; a later round tries again.
    Unavailable,
}

/// Logs in at the IAM with the form login (`user`, `password`).
pub struct Login {
    user: String,
    password: String,
    iam: BalancedClient,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("iam", &self.iam)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// A login as `config.user` at `config.iam_url`, or, given a `registry`, at the
    /// instances of `config.iam_service` there; each attempt bounded by
    /// `config.login_timeout`, over HTTPS with `config.tls_roots` trusted as well.
    pub fn new(config: &Config, registry: Option<&EtcdRegistry>) -> Result<Self, String> {
        let http = crate::tls::http_client_builder(&config.tls_roots)
            .map_err(|error| error.to_string())?
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        let builder = BalancedClient::builder()
            .service_name(config.iam_service.clone())
            .breaker(
                CircuitBreaker::builder()
                    .max_failures(config.max_failures)
                    .call_timeout(config.login_timeout)
                    .reset_timeout(config.reset_timeout),
            )
            .http_client(http);
        let iam = if let Some(registry) = registry {
            let view = registry
                .watch(&config.iam_service)
                .map_err(|error| error.to_string())?;
            builder.build_with_discovery(upstream_changes(&view))
        } else {
            crate::tls::check_plain_http("--iam", &config.iam_url, config.allow_insecure_http)
                .map_err(|error| error.to_string())?;
            builder.upstream(config.iam_url.clone()).build()
        }
        .map_err(|error| error.to_string())?;
        Ok(Self {
            user: config.user.clone(),
            password: config.password.clone(),
            iam,
        })
    }

    /// Waits up to `within` until at least one IAM instance is known; returns whether one is.
    pub async fn wait_for_instances(&self, within: std::time::Duration) -> bool {
        crate::registry::follow::wait_for_any(&self.iam, within).await
    }

    /// A fresh token. Prints a `login:` line; never prints the password or the token.
    pub async fn token(&self) -> Result<String, LoginError> {
        #[derive(serde::Deserialize)]
        struct TokenBody {
            token: String,
        }
        let started = Instant::now();
        let response = self
            .iam
            .post(LOGIN_PATH)
            .form(&[
                ("user", self.user.as_str()),
                ("password", self.password.as_str()),
            ])
            .send()
            .await;
        let elapsed = elapsed_ms(started.elapsed());
        match response {
            Ok(response) if response.status().is_success() => {
                match response.json::<TokenBody>().await {
                    Ok(body) => {
                        println!("login: ok user={} elapsed_ms={elapsed}", self.user);
                        Ok(body.token)
                    }
                    Err(error) => {
                        println!("login: failed kind=body elapsed_ms={elapsed}");
                        tracing::warn!(%error, "the IAM's answer has no token");
                        Err(LoginError::Unavailable)
                    }
                }
            }
            Ok(response)
                if matches!(
                    response.status(),
                    reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN
                ) =>
            {
                println!(
                    "login: rejected status={} elapsed_ms={elapsed}",
                    response.status().as_u16()
                );
                tracing::error!(user = %self.user, "the IAM rejected the credentials");
                Err(LoginError::Rejected)
            }
            Ok(response) => {
                println!(
                    "login: failed kind=status status={} elapsed_ms={elapsed}",
                    response.status().as_u16()
                );
                Err(LoginError::Unavailable)
            }
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timeout"
                } else if error.is_open() {
                    "open"
                } else {
                    "connect"
                };
                println!("login: failed kind={kind} elapsed_ms={elapsed}");
                tracing::warn!(%error, "the IAM is unreachable; retrying next round");
                Err(LoginError::Unavailable)
            }
        }
    }
}

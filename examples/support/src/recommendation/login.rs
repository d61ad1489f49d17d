//! The client's form login at the IAM.

use std::time::Instant;

use super::config::Config;
use super::elapsed_ms;

/// Why a login gave no token.
#[derive(Debug)]
pub enum LoginError {
    /// The IAM said no: wrong user or password. Retrying will not help.
    Rejected,
    /// The IAM could not be reached or failed; a later round tries again.
    Unavailable,
}

/// Logs in at the IAM with the form login (`user`, `password`).
#[derive(Debug)]
pub struct Login {
    url: String,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl Login {
    /// A login at `config.iam_url` as `config.user`, each attempt bounded by
    /// `config.login_timeout`, over HTTPS with `config.tls_roots` trusted as well.
    pub fn new(config: &Config) -> Result<Self, String> {
        crate::tls::check_plain_http("--iam", &config.iam_url, config.allow_insecure_http)
            .map_err(|error| error.to_string())?;
        let http = crate::tls::http_client_builder(&config.tls_roots)
            .map_err(|error| error.to_string())?
            .timeout(config.login_timeout)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Self {
            url: format!("{}/api/v1/admin/auth", config.iam_url),
            user: config.user.clone(),
            password: config.password.clone(),
            http,
        })
    }

    /// A fresh token. Prints a `login:` line; never prints the password or the token.
    pub async fn token(&self) -> Result<String, LoginError> {
        #[derive(serde::Deserialize)]
        struct TokenBody {
            token: String,
        }
        let started = Instant::now();
        let response = self
            .http
            .post(&self.url)
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

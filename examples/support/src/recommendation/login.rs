//! The client's authentication at the IAM: the seed's form login as a user, or, with
//! `--client-id`, the OAuth 2.0 `client_credentials` grant as a registered client (RFC 6749
//! section 4.4); at `--iam`, or at whichever IAM instance the service registry lists,
//! through the breaker's balanced client either way. Neither the secret nor a token is
//! ever printed or logged.

use std::time::{Duration, Instant};

use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker};
use portcullis_discovery::EtcdRegistry;

use super::config::Config;
use super::elapsed_ms;
use crate::registry::follow::upstream_changes;

/// The IAM's form-login route, appended to each instance's base URL.
const LOGIN_PATH: &str = "/api/v1/admin/auth";

/// The IAM's OAuth 2.0 token endpoint.
const TOKEN_PATH: &str = "/oauth2/token";

/// A token is renewed this long before it expires, so that no call carries one that
/// expires on the way.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// A bearer token and when it expires (when the IAM said).
#[derive(Clone)]
pub struct Token {
    /// The token itself (never printed).
    pub value: String,
    expires_at: Option<Instant>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Whether it expires within 30 seconds: time to get a new one.
    pub fn is_expiring(&self) -> bool {
        self.expires_at
            .is_some_and(|at| at.saturating_duration_since(Instant::now()) < RENEW_BEFORE)
    }
}

/// Why a login gave no token.
#[derive(Debug)]
pub enum LoginError {
    /// The IAM said no: wrong user or password. Retrying will not help.
    Rejected,
    /// The IAM could not be reached or failed; a later round tries again.
    Unavailable,
}

/// Who the client authenticates as.
enum Credentials {
    /// A user, with the seed's form login.
    User { user: String, password: String },
    /// A registered OAuth 2.0 client, with `client_credentials`.
    Client { id: String, secret: String },
}

impl Credentials {
    /// Who, for the output lines.
    fn who(&self) -> String {
        match self {
            Self::User { user, .. } => format!("user={user}"),
            Self::Client { id, .. } => format!("client={id}"),
        }
    }
}

/// Gets tokens from the IAM: as a user (form login) or as a client (`client_credentials`).
pub struct Login {
    credentials: Credentials,
    iam: BalancedClient,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("as", &self.credentials.who())
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
            .outgoing_headers(portcullis_response::TraceContext::inject_current)
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
        let credentials = match (&config.client_id, &config.client_secret) {
            (Some(id), Some(secret)) => Credentials::Client {
                id: id.clone(),
                secret: secret.clone(),
            },
            _ => Credentials::User {
                user: config.user.clone(),
                password: config.password.clone(),
            },
        };
        Ok(Self { credentials, iam })
    }

    /// Waits up to `within` until at least one IAM instance is known; returns whether one is.
    pub async fn wait_for_instances(&self, within: std::time::Duration) -> bool {
        crate::registry::follow::wait_for_any(&self.iam, within).await
    }

    /// A fresh token. Prints a `login:` line; never prints the password, the secret or
    /// the token.
    pub async fn token(&self) -> Result<Token, LoginError> {
        /// The seed's login answer (`token`, `expiresIn`) or RFC 6749's (`access_token`,
        /// `expires_in`).
        #[derive(serde::Deserialize)]
        struct TokenBody {
            #[serde(alias = "access_token")]
            token: String,
            #[serde(rename = "expiresIn", alias = "expires_in")]
            expires_in: Option<u64>,
        }
        let started = Instant::now();
        let request = match &self.credentials {
            Credentials::User { user, password } => self
                .iam
                .post(LOGIN_PATH)
                .form(&[("user", user.as_str()), ("password", password.as_str())]),
            // client_secret_basic (RFC 6749 section 2.3.1).
            Credentials::Client { id, secret } => self
                .iam
                .post(TOKEN_PATH)
                .map(|request| request.basic_auth(id, Some(secret)))
                .form(&[("grant_type", "client_credentials")]),
        };
        let response = request.send().await;
        let elapsed = elapsed_ms(started.elapsed());
        let who = self.credentials.who();
        match response {
            Ok(response) if response.status().is_success() => {
                match response.json::<TokenBody>().await {
                    Ok(body) => {
                        println!("login: ok {who} elapsed_ms={elapsed}");
                        Ok(Token {
                            value: body.token,
                            expires_at: body
                                .expires_in
                                .map(|secs| started + Duration::from_secs(secs)),
                        })
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
                tracing::error!(%who, "the IAM rejected the credentials");
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

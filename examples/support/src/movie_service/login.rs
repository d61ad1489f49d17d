//! `POST /api/v1/login`: the login proxy to the IAM, behind a circuit breaker.
//!
//! The original project forwarded the form to the IAM with no timeout: a hung IAM hung every login.
//! Here each call has a deadline, and after a few failures in a row the breaker opens and
//! logins fail fast with 503 (and `Retry-After`) until a trial call gets through.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, header};
use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker, ClientBuildError, ClientError};
use portcullis_response::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::MovieSettings;

/// The IAM route the original movie service forwarded logins to.
const IAM_LOGIN_PATH: &str = "/api/v1/admin/auth";

/// The largest IAM reply passed on; a token response is a few hundred bytes.
const MAX_REPLY_BYTES: usize = 16 * 1024;

/// The login form: the original project's field names.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct LoginForm {
    /// The user name.
    #[schema(example = "admin")]
    pub user: String,
    /// The password; forwarded, never logged.
    #[schema(example = "change-me")]
    pub password: String,
}

impl fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginForm")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Forwards login forms to the IAM through the breaker's HTTP client: one breaker per IAM
/// instance, round-robin over the instances whose breaker admits calls.
#[derive(Debug, Clone)]
pub struct LoginProxy {
    client: BalancedClient,
}

impl LoginProxy {
    /// A proxy to the IAM instances of `authAddr` (one base URL, or several separated by
    /// commas), with the breaker settings from `config`; transitions are logged so an
    /// operator sees the IAM going away and coming back. `http` is the client the calls go
    /// through (HTTPS settings: [`crate::tls::http_client_builder`]).
    pub fn new(config: &MovieSettings, http: reqwest::Client) -> Result<Self, ClientBuildError> {
        let call_timeout = config.login_call_timeout();
        let reset_timeout = config.login_reset_timeout();
        let breaker = CircuitBreaker::builder()
            .max_failures(config.login_max_failures.max(1))
            .call_timeout(call_timeout)
            .reset_timeout(reset_timeout)
            .exponential_backoff(2.0)
            .max_reset_timeout(Duration::from_secs(60).max(reset_timeout))
            .on_open(|| tracing::warn!("login breaker OPEN: the IAM is failing, logins fail fast"))
            .on_half_open(|| tracing::info!("login breaker HALF-OPEN: trying the IAM again"))
            .on_close(|| tracing::info!("login breaker CLOSED: the IAM answers again"))
            .on_call_timeout(|elapsed| tracing::warn!(?elapsed, "IAM login call timed out"));
        let client = BalancedClient::builder()
            .upstreams(auth_addrs(&config.auth_addr))
            .breaker(breaker)
            .http_client(http)
            .build()?;
        Ok(Self { client })
    }

    /// Forwards `form` and passes the IAM's status and JSON body back unchanged (200 with
    /// the token, 401 for bad credentials). Transport failures, timeouts, 5xx and open
    /// breakers become 503 `upstream_unavailable`.
    pub async fn login(&self, form: LoginForm) -> Result<Response, ApiError> {
        let reply = match self.client.post(IAM_LOGIN_PATH).form(&form).send().await {
            Ok(reply) => reply,
            Err(error) => return Err(unavailable(error)),
        };
        let status = reply.status();
        if status.is_server_error() {
            // The breaker counted it; the IAM's own 5xx details stay in its logs.
            return Err(ApiError::unavailable("Login service unavailable")
                .with_source(format!("IAM answered {status}")));
        }
        let content_type = reply.headers().get(header::CONTENT_TYPE).cloned();
        let body = match reply.bytes().await {
            Ok(body) if body.len() <= MAX_REPLY_BYTES => body,
            Ok(_) => return Err(ApiError::unavailable("Login service sent an invalid reply")),
            Err(error) => {
                return Err(ApiError::unavailable("Login service unavailable").with_source(error));
            }
        };
        tracing::info!(user = %form.user, status = status.as_u16(), "login forwarded to the IAM");
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            content_type.unwrap_or_else(|| HeaderValue::from_static("application/json")),
        );
        Ok(response)
    }
}

/// The IAM base URLs in `authAddr`: `"http://a:8808"` or `"http://a:8808,http://b:8808"`.
pub fn auth_addrs(auth_addr: &str) -> Vec<String> {
    auth_addr
        .split(',')
        .map(|a| a.trim().trim_end_matches('/').to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// Every way of not getting an answer is a 503; open breakers say when to retry.
fn unavailable(error: ClientError) -> ApiError {
    match error {
        ClientError::AllOpen { retry_in } => {
            ApiError::unavailable("Login service unavailable, retry later")
                .with_retry_after(retry_in)
        }
        ClientError::Timeout { elapsed } => {
            ApiError::unavailable("Login service did not answer in time")
                .with_source(format!("IAM call timed out after {elapsed:?}"))
        }
        other => ApiError::unavailable("Login service unavailable").with_source(other),
    }
}

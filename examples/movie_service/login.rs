//! `POST /api/v1/login`: the seed's login proxy to the IAM, behind a circuit breaker.
//!
//! The seed forwarded the form to the IAM with no timeout: a hung IAM hung every login.
//! Here each call has a deadline, and after a few failures in a row the breaker opens and
//! logins fail fast with 503 (and `Retry-After`) until a trial call gets through.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use portcullis::breaker::{BreakerError, CircuitBreaker};
use portcullis::response::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::support::config::Config;

/// The IAM route the seed's movie service forwarded logins to.
const IAM_LOGIN_PATH: &str = "/api/v1/admin/auth";

/// The largest IAM reply passed on; a token response is a few hundred bytes.
const MAX_REPLY_BYTES: usize = 16 * 1024;

/// The login form: the seed's field names.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub(crate) struct LoginForm {
    /// The user name.
    #[schema(example = "admin")]
    pub(crate) user: String,
    /// The password; forwarded, never logged.
    #[schema(example = "change-me")]
    pub(crate) password: String,
}

impl fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginForm")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Forwards login forms to the IAM through one circuit breaker.
#[derive(Debug, Clone)]
pub(crate) struct LoginProxy {
    http: reqwest::Client,
    url: String,
    breaker: CircuitBreaker,
}

/// What can go wrong on the way to the IAM (a reply with any status is not an error:
/// a wrong password is the IAM doing its job).
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// Connection refused, reset, or an unreadable reply.
    #[error("IAM unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    /// The IAM answered 5xx: it is up but cannot serve.
    #[error("IAM answered {0}")]
    ServerError(StatusCode),
}

impl LoginProxy {
    /// A proxy to `authAddr`, with the breaker settings from `config`; transitions are
    /// logged so an operator sees the IAM going away and coming back.
    pub(crate) fn new(config: &Config) -> Result<Self, reqwest::Error> {
        let call_timeout = Duration::from_millis(config.login_call_timeout_ms.max(1));
        let reset_timeout = Duration::from_millis(config.login_reset_timeout_ms.max(1));
        let breaker = CircuitBreaker::builder()
            .max_failures(config.login_max_failures.max(1))
            .call_timeout(call_timeout)
            .reset_timeout(reset_timeout)
            .exponential_backoff(2.0)
            .max_reset_timeout(Duration::from_secs(60).max(reset_timeout))
            .on_open(|| tracing::warn!("login breaker OPEN: the IAM is failing, logins fail fast"))
            .on_half_open(|| tracing::info!("login breaker HALF-OPEN: trying the IAM again"))
            .on_close(|| tracing::info!("login breaker CLOSED: the IAM answers again"))
            .on_call_timeout(|elapsed| tracing::warn!(?elapsed, "IAM login call timed out"))
            .build();
        let http = reqwest::Client::builder()
            // The breaker's call timeout bounds the whole call; this bounds the connect.
            .connect_timeout(call_timeout)
            .build()?;
        Ok(Self {
            http,
            url: format!("{}{IAM_LOGIN_PATH}", config.auth_addr.trim_end_matches('/')),
            breaker,
        })
    }

    /// Forwards `form` and passes the IAM's status and JSON body back unchanged (200 with
    /// the token, 401 for bad credentials). Transport failures, timeouts, 5xx and an open
    /// breaker become 503 `upstream_unavailable`.
    pub(crate) async fn login(&self, form: LoginForm) -> Result<Response, ApiError> {
        let user = form.user.clone();
        let outcome = self
            .breaker
            .call(|| async {
                let reply = self.http.post(&self.url).form(&form).send().await?;
                let status = reply.status();
                if status.is_server_error() {
                    return Err(UpstreamError::ServerError(status));
                }
                let content_type = reply.headers().get(header::CONTENT_TYPE).cloned();
                let body = reply.bytes().await?;
                Ok((status, content_type, body))
            })
            .await;
        match outcome {
            Ok((status, content_type, body)) => {
                tracing::info!(%user, status = status.as_u16(), "login forwarded to the IAM");
                if body.len() > MAX_REPLY_BYTES {
                    return Err(ApiError::unavailable("Login service sent an invalid reply"));
                }
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    content_type.unwrap_or_else(|| HeaderValue::from_static("application/json")),
                );
                Ok(response)
            }
            Err(BreakerError::Open { remaining }) => Err(ApiError::unavailable(
                "Login service unavailable, retry later",
            )
            .with_retry_after(remaining)),
            Err(BreakerError::Timeout { elapsed }) => Err(ApiError::unavailable(
                "Login service did not answer in time",
            )
            .with_source(format!("IAM call timed out after {elapsed:?}"))),
            Err(BreakerError::Inner(error)) => {
                Err(ApiError::unavailable("Login service unavailable").with_source(error))
            }
            Err(other) => {
                Err(ApiError::unavailable("Login service unavailable")
                    .with_source(other.to_string()))
            }
        }
    }
}

//! `POST /api/v1/login`: the login proxy to the IAM, behind a circuit breaker.
//!
//! The original project forwarded the form to the IAM with no timeout: a hung IAM hung every login.
//! Here each call has a deadline, and after a few failures in a row the breaker opens and
//! logins fail fast with 503 (and `Retry-After`) until a trial call gets through. Only what
//! says the IAM is unhealthy (connect errors, timeouts, 5xx) counts against the breaker: a
//! 401 or a 429 is the IAM working, so one locked-out name never takes logins down for all.
//!
//! The form is read urlencoded or as `multipart/form-data` (as the original project's gin
//! `PostForm` did) and forwarded with the same fields. The client's address travels in
//! `X-Forwarded-For` (the incoming chain plus this hop's TCP peer), so the IAM can throttle
//! per client when it lists this service among its `trustedProxies`.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use portcullis_circuit_breaker::{BalancedClient, CircuitBreaker, ClientBuildError, ClientError};
use portcullis_discovery::ServiceView;
use portcullis_response::{ApiError, ApiResult, ErrorBody, FormOrMultipart, TraceContext};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::MovieSettings;
use crate::registry::follow::upstream_changes;

/// The IAM route the original movie service forwarded logins to.
const IAM_LOGIN_PATH: &str = "/api/v1/admin/auth";

/// The largest IAM reply passed on; a token response is a few hundred bytes.
const MAX_REPLY_BYTES: usize = 16 * 1024;

/// The header each proxy appends the address it received the request from to.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The route `POST /api/v1/login` with its `OpenAPI` operation, served by `proxy`.
pub fn router(proxy: LoginProxy) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(login_route))
        .with_state(proxy)
}

/// The login proxy: the form goes to the IAM's `/api/v1/admin/auth` through a circuit
/// breaker, and the IAM's answer comes back as it was.
#[utoipa::path(
    post, path = "/api/v1/login", tag = "auth", operation_id = "login",
    request_body(
        description = "The credentials, urlencoded (`curl -d`) or multipart (`curl -F`)",
        content(
            (LoginForm = "application/x-www-form-urlencoded"),
            (LoginForm = "multipart/form-data")
        )
    ),
    responses(
        (status = 200, description = "The IAM's token response, e.g. {\"token\": \"<JWT>\", \"tokenType\": \"Bearer\", \"expiresIn\": 3600}"),
        (status = 400, description = "Malformed body, or a name the IAM refuses", body = ErrorBody),
        (status = 401, description = "Wrong user or password", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Neither urlencoded nor multipart", body = ErrorBody),
        (status = 422, description = "A missing field, a field given twice, or a file part", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this name or client address (the IAM's answer, passed on)",
            body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The IAM is down, slow, or the breaker is open",
            body = ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait, when known")))
    )
)]
async fn login_route(
    State(login): State<LoginProxy>,
    // Absent only when the router is called without a socket (unit tests).
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    FormOrMultipart(form): FormOrMultipart<LoginForm>,
) -> ApiResult<Response> {
    let peer = peer.map(|Extension(ConnectInfo(peer))| peer);
    login.login(form, forwarded_for(&headers, peer)).await
}

/// `X-Forwarded-For` for the IAM: the incoming chain (every header line, in order) with
/// `peer` appended. The IAM decides how much of it to believe (`trustedProxies`,
/// `forwardedHops`); entries a client wrote itself are left of the ones proxies append.
pub fn forwarded_for(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<HeaderValue> {
    let mut entries: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect();
    let peer = peer.map(|peer| peer.ip().to_canonical().to_string());
    if let Some(peer) = &peer {
        entries.push(peer);
    }
    if entries.is_empty() {
        return None;
    }
    HeaderValue::from_str(&entries.join(", ")).ok()
}

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

/// The client the movie service calls the IAM with (logins, and the keys when they come
/// through the registry): one breaker per IAM instance, configured from `config`, with
/// transitions logged so an operator sees the IAM going away and coming back. The
/// instances are `authAddr`'s (one base URL, or several separated by commas), or, given a
/// registry `view` of the IAM, whichever instances it lists as they come and go. `http` is
/// the client the calls go through (HTTPS settings: [`crate::tls::http_client_builder`]).
pub fn iam_client(
    config: &MovieSettings,
    http: reqwest::Client,
    view: Option<&ServiceView>,
) -> Result<BalancedClient, ClientBuildError> {
    let call_timeout = config.login_call_timeout();
    let reset_timeout = config.login_reset_timeout();
    let breaker = CircuitBreaker::builder()
        .max_failures(config.login_max_failures.max(1))
        .call_timeout(call_timeout)
        .reset_timeout(reset_timeout)
        .exponential_backoff(2.0)
        .max_reset_timeout(Duration::from_secs(60).max(reset_timeout))
        .on_open(|| tracing::warn!("IAM breaker OPEN: the IAM is failing, logins fail fast"))
        .on_half_open(|| tracing::info!("IAM breaker HALF-OPEN: trying the IAM again"))
        .on_close(|| tracing::info!("IAM breaker CLOSED: the IAM answers again"))
        .on_call_timeout(|elapsed| tracing::warn!(?elapsed, "IAM call timed out"));
    // Each instance's breaker is named `user_service/<host:port>` in logs and metrics.
    // Every call continues the trace of the request it serves (the login proxy's, the
    // key refresh's own).
    let builder = BalancedClient::builder()
        .service_name(config.auth_service_name.clone())
        .breaker(breaker)
        .http_client(http)
        .outgoing_headers(TraceContext::inject_current);
    match view {
        Some(view) => builder.build_with_discovery(upstream_changes(view)),
        None => builder.upstreams(auth_addrs(&config.auth_addr)).build(),
    }
}

impl LoginProxy {
    /// A proxy calling the IAM through `iam` (see [`iam_client`]).
    pub fn new(iam: BalancedClient) -> Self {
        Self { client: iam }
    }

    /// Forwards `form` (urlencoded, with `X-Forwarded-For: forwarded_for` when given, and
    /// the request's W3C trace continued by the client's `outgoing_headers` hook) and
    /// passes the IAM's status, JSON body and `Retry-After` back unchanged (200 with the
    /// token, 401 for bad credentials, 429 when throttled). Transport failures, timeouts,
    /// 5xx and open breakers become 503 `upstream_unavailable`; an IAM's own 503 keeps its
    /// `Retry-After`.
    pub async fn login(
        &self,
        form: LoginForm,
        forwarded_for: Option<HeaderValue>,
    ) -> Result<Response, ApiError> {
        let mut request = self.client.post(IAM_LOGIN_PATH).form(&form);
        if let Some(value) = forwarded_for {
            request = request.header(X_FORWARDED_FOR, value);
        }
        let reply = match request.send().await {
            Ok(reply) => reply,
            Err(error) => return Err(unavailable(error)),
        };
        let status = reply.status();
        let retry_after = reply.headers().get(header::RETRY_AFTER).cloned();
        if status.is_server_error() {
            // The breaker counted it; the IAM's own 5xx details stay in its logs.
            let error = ApiError::unavailable("Login service unavailable")
                .with_source(format!("IAM answered {status}"));
            return Err(match retry_after.as_ref().and_then(retry_after_secs) {
                Some(wait) if status == StatusCode::SERVICE_UNAVAILABLE => {
                    error.with_retry_after(wait)
                }
                _ => error,
            });
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
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
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

/// A `Retry-After` in seconds (the form the IAM sends); an HTTP date is not passed on.
fn retry_after_secs(value: &HeaderValue) -> Option<Duration> {
    value
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_peer_is_appended_to_the_incoming_chain() {
        let mut headers = HeaderMap::new();
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.7"));
        headers.append(
            X_FORWARDED_FOR,
            HeaderValue::from_static("10.0.0.1, 10.0.0.2"),
        );
        assert_eq!(
            forwarded_for(&headers, Some(peer("127.0.0.2:5000"))).unwrap(),
            "203.0.113.7, 10.0.0.1, 10.0.0.2, 127.0.0.2"
        );
    }

    #[test]
    fn without_a_chain_the_peer_alone_is_sent_and_mapped_ipv6_is_plain_ipv4() {
        let headers = HeaderMap::new();
        assert_eq!(
            forwarded_for(&headers, Some(peer("[::ffff:127.0.0.3]:80"))).unwrap(),
            "127.0.0.3"
        );
        assert_eq!(forwarded_for(&headers, None), None);
    }

    #[test]
    fn retry_after_in_seconds_is_read_and_a_date_is_not() {
        assert_eq!(
            retry_after_secs(&HeaderValue::from_static("7")),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after_secs(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}

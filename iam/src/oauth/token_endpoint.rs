//! `POST /oauth2/token` (RFC 6749 section 3.2): authenticates the client, dispatches on
//! `grant_type`, and answers as section 5.1 says, or with a section 5.2 error.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::errors::{OAuthError, no_store};
use super::form::read_form;
use super::store::{GrantType, OAuthClient};
use super::{grant_client_credentials, grant_password, grant_refresh, request_address, scope};
use crate::iam::Iam;
use crate::metrics;

/// A successful token response (RFC 6749 section 5.1). `Debug` never shows the tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthTokenResponse {
    /// The access token: a signed JWT (`typ: at+jwt`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A refresh token (password and refresh grants, for clients allowed the
    /// `refresh_token` grant); never for `client_credentials` (RFC 6749 section 4.4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scopes, space-separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

impl fmt::Debug for OAuthTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The subject of an access token: a user, or the client itself.
pub(crate) struct Subject<'a> {
    pub(crate) sub: &'a str,
    pub(crate) name: &'a str,
    pub(crate) roles: &'a [String],
}

impl Iam {
    /// The lifetime of `client`'s access tokens: its own, or the configured default; never
    /// beyond the IAM's token lifetime, which is how long a rotated-out key stays in the
    /// JWKS (a client registered under a longer setting is cut to it).
    pub(crate) fn access_token_ttl(&self, client: &OAuthClient) -> Duration {
        client
            .access_token_ttl
            .map_or(self.inner.oauth.access_token_ttl, Duration::from_secs)
            .min(self.inner.tokens.ttl)
    }

    /// Signs an access token for `subject`, issued to `client` with `scopes`, and makes the
    /// response (without a refresh token).
    pub(crate) fn access_token(
        &self,
        subject: &Subject<'_>,
        client: &OAuthClient,
        scopes: &[String],
    ) -> Result<OAuthTokenResponse, OAuthError> {
        let ttl = self.access_token_ttl(client);
        let tokens = &self.inner.tokens;
        let mut claims = tokens.claims_for(subject.sub, subject.name, subject.roles, ttl)?;
        let scope = scope::join(scopes);
        claims.client_id = Some(client.id.clone());
        claims.scope = Some(scope.clone());
        Ok(OAuthTokenResponse {
            access_token: tokens.sign(&claims)?,
            token_type: "Bearer".to_owned(),
            expires_in: ttl.as_secs(),
            refresh_token: None,
            scope,
        })
    }
}

/// Issues a token for one of the grants the client is allowed (form body, client
/// authenticated by `client_secret_basic` or `client_secret_post`).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/oauth2/token", tag = "oauth2",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "A token (RFC 6749 section 5.1; `Cache-Control: no-store`)", body = OAuthTokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope (RFC 6749 section 5.2)", body = OAuthErrorBody),
        (status = 401, description = "invalid_client (`WWW-Authenticate: Basic`)", body = OAuthErrorBody),
        (status = 429, description = "Too many failed attempts for this client, user or address", body = OAuthErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The store is unavailable", body = OAuthErrorBody)
    )
))]
pub(crate) async fn token(State(iam): State<Iam>, request: Request) -> Response {
    let address = request_address(&iam, &request);
    match issue(&iam, request, address).await {
        Ok(body) => {
            let mut response = Json(body).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(err) => err.into_response(),
    }
}

async fn issue(
    iam: &Iam,
    request: Request,
    address: Option<IpAddr>,
) -> Result<OAuthTokenResponse, OAuthError> {
    let (headers, form) = read_form(request)
        .await
        .inspect_err(|err| metrics::token_request("missing", err.outcome()))?;
    let grant = form.get("grant_type").map(str::parse::<GrantType>);
    let grant_label = match grant {
        Some(Ok(grant)) => grant.as_str(),
        Some(Err(())) => "unsupported",
        None => "missing",
    };
    let issued = async {
        let grant = grant.ok_or(OAuthError::InvalidRequest("grant_type is required"))?;
        let attempt = iam
            .begin_client_authentication(&headers, &form, address)
            .await?;
        // A refresh token is looked up while the client is: the refresh's latency is its
        // round trips to the store. What the lookup found is judged only once the client
        // is authenticated and allowed the grant.
        let (client, refresh_token) = tokio::join!(attempt.finish(), async {
            match grant {
                Ok(GrantType::RefreshToken) => Some(grant_refresh::look_up(iam, &form).await),
                _ => None,
            }
        });
        let client = client?;
        let grant = grant.map_err(|()| OAuthError::UnsupportedGrantType)?;
        if !client.allows(grant) {
            return Err(OAuthError::UnauthorizedClient(
                "the client may not use this grant type",
            ));
        }
        let issued = match grant {
            GrantType::ClientCredentials => grant_client_credentials::issue(iam, &client, &form)?,
            GrantType::Password => grant_password::issue(iam, &client, &form, address).await?,
            GrantType::RefreshToken => {
                let presented = match refresh_token {
                    Some(presented) => presented?,
                    None => grant_refresh::look_up(iam, &form).await?,
                };
                grant_refresh::issue(iam, &client, &form, presented).await?
            }
        };
        tracing::info!(client_id = %client.id, grant_type = %grant, scope = %issued.scope, "issued an access token");
        Ok(issued)
    }
    .await;
    metrics::token_request(
        grant_label,
        issued
            .as_ref()
            .map_or_else(OAuthError::outcome, |_| "success"),
    );
    issued
}

/// The form of a token request, for the `OpenAPI` document only (the handler reads the
/// form itself, strictly).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenRequest {
    /// `client_credentials`, `password` or `refresh_token`.
    grant_type: String,
    /// Space-separated scopes; default: all the client (or the refresh token) allows.
    scope: Option<String>,
    /// The user name (`password` grant).
    username: Option<String>,
    /// The user's password (`password` grant).
    #[schema(format = Password)]
    password: Option<String>,
    /// The refresh token (`refresh_token` grant).
    refresh_token: Option<String>,
    /// The client id (`client_secret_post`).
    client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    #[schema(format = Password)]
    client_secret: Option<String>,
}

/// An RFC 6749 section 5.2 error body, for the `OpenAPI` document: `error` and
/// `error_description`, plus the `code` and `message` of every other route's errors.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct OAuthErrorBody {
    /// The RFC 6749 error code, e.g. `invalid_client`.
    #[schema(example = "invalid_client")]
    error: String,
    /// A description for the developer.
    error_description: String,
    /// A stable number from the `ErrorCode` table, as in every error of these services.
    #[schema(example = 1014)]
    code: i32,
    /// The same text as `error_description`.
    message: String,
}

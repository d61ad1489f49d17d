//! `POST /oauth2/introspect`: token introspection (RFC 7662), for authenticated clients.

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::errors::{OAuthError, no_store};
use super::form::read_form;
use super::request_address;
use crate::iam::Iam;

/// An introspection response (RFC 7662 section 2.2). Anything not active is just
/// `{"active": false}`, whatever the reason (section 2.2: the server should not say why).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Introspection {
    /// Whether the token is active: issued here, unexpired and unrevoked.
    pub active: bool,
    /// The granted scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's name (for tokens that stand for a user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issue time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The subject: a user id, or the client id for `client_credentials` tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The audience (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The issuer (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The token id (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// The claims beyond the guard's own that introspection reports.
#[derive(Debug, Deserialize)]
struct ClientClaim {
    #[serde(default)]
    client_id: Option<String>,
}

/// Tells whether a token is active and what it carries (form `token`, optional
/// `token_type_hint`; client authenticated).
///
/// Access tokens are checked like the IAM's guard checks them (signature, issuer,
/// audience, expiry), for any authenticated client, since resource services introspect
/// tokens issued to other clients. Refresh tokens are reported only to the client they
/// were issued to; to any other client they are `{"active": false}`.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/oauth2/introspect", tag = "oauth2",
    request_body(content = TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 200, description = "The token's state (RFC 7662 section 2.2)", body = Introspection),
        (status = 400, description = "invalid_request", body = super::token_endpoint::OAuthErrorBody),
        (status = 401, description = "invalid_client (`WWW-Authenticate: Basic`)", body = super::token_endpoint::OAuthErrorBody),
        (status = 429, description = "Too many failed client authentications", body = super::token_endpoint::OAuthErrorBody)
    )
))]
pub(crate) async fn introspect(State(iam): State<Iam>, request: Request) -> Response {
    let address = request_address(&iam, &request);
    let result = async {
        let (headers, form) = read_form(request).await?;
        let token = form.require("token", "token is required")?;
        let client = iam.authenticate_client(&headers, &form, address).await?;
        let hint = form.get("token_type_hint");
        // The hint only orders the look-ups (RFC 7662 section 2.1).
        let found = if hint == Some("refresh_token") {
            match refresh_token(&iam, token, &client.id).await? {
                Some(found) => Some(found),
                None => access_token(&iam, token).await,
            }
        } else {
            match access_token(&iam, token).await {
                Some(found) => Some(found),
                None => refresh_token(&iam, token, &client.id).await?,
            }
        };
        Ok::<_, OAuthError>(found.unwrap_or_default())
    }
    .await;
    match result {
        Ok(body) => {
            let mut response = Json(body).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(err) => err.into_response(),
    }
}

async fn access_token(iam: &Iam, token: &str) -> Option<Introspection> {
    if token.split('.').count() != 3 {
        return None;
    }
    let claims = iam.guard().verify::<ClientClaim>(token).await.ok()?;
    let is_user = claims.extra.client_id.as_deref() != Some(claims.sub.as_str());
    Some(Introspection {
        active: true,
        scope: Some(claims.scope).filter(|s| !s.is_empty()),
        client_id: claims.extra.client_id,
        username: Some(claims.name).filter(|n| is_user && !n.is_empty()),
        token_type: Some("Bearer".to_owned()),
        exp: Some(claims.exp),
        iat: claims.iat,
        sub: Some(claims.sub),
        aud: claims.aud.into_iter().next(),
        iss: Some(claims.iss),
        jti: claims.jti,
    })
}

async fn refresh_token(
    iam: &Iam,
    token: &str,
    client_id: &str,
) -> Result<Option<Introspection>, OAuthError> {
    let Some(record) = iam.usable_refresh_token(token, client_id).await? else {
        return Ok(None);
    };
    Ok(Some(Introspection {
        active: true,
        scope: Some(record.scope),
        client_id: Some(record.client_id),
        token_type: Some("refresh_token".to_owned()),
        exp: Some(record.expires_at),
        iat: Some(record.issued_at),
        sub: Some(record.user_id),
        ..Introspection::default()
    }))
}

/// The form of a revocation or introspection request, for the `OpenAPI` document only.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenParameter {
    /// The token (an empty one is `invalid_request`).
    #[schema(min_length = 1)]
    token: String,
    /// `access_token` or `refresh_token`: where to look first.
    token_type_hint: Option<String>,
    /// The client id (`client_secret_post`).
    client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    #[schema(format = Password)]
    client_secret: Option<String>,
}

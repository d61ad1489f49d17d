//! The client-management routes (role `admin`): register, list, disable, rotate a secret.

use std::fmt;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
#[cfg(feature = "openapi")]
use portcullis_response::ErrorBody;
use portcullis_response::{ApiResult, Path};
use serde::{Deserialize, Serialize};

use super::clients::NewClient;
use super::store::{ClientView, GrantType};
use crate::iam::Iam;
use crate::routes::json_body;

/// A client to register.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewOAuthClient))]
pub(crate) struct CreateClient {
    /// The `client_id` (1 to 64 of `A-Z a-z 0-9 . _ ~ -`); random when left out.
    #[serde(default)]
    client_id: Option<String>,
    /// A name for people.
    name: String,
    /// The scopes the client may ask for.
    #[serde(default)]
    scopes: Vec<String>,
    /// The grant types it may use. Default `["client_credentials"]`.
    #[serde(default)]
    grant_types: Option<Vec<GrantType>>,
    /// Its access-token lifetime in seconds; default the IAM's.
    #[serde(default, deserialize_with = "whole_seconds")]
    access_token_ttl: Option<u64>,
}

/// A JSON Schema `integer` is any number without a fraction (`60.0` as well as `60`), so
/// a client following the document may send either; serde's `u64` takes only the first.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(seconds) = number.as_u64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        // In range and whole, so the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(f) if f.fract() == 0.0 && (0.0..=9.0e15).contains(&f) => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(
            "accessTokenTtl must be a whole number of seconds",
        )),
    }
}

/// A client and its secret: the only time the secret is shown.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ClientWithSecret {
    #[serde(flatten)]
    client: ClientView,
    /// The client secret (256 random bits, base64url). Store it now: only its hash is
    /// kept.
    client_secret: String,
}

impl fmt::Debug for ClientWithSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientWithSecret")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn with_secret(client: ClientView, secret: String) -> Response {
    let mut response = Json(ClientWithSecret {
        client,
        client_secret: secret,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Registers a client (role `admin`); the answer holds its secret, shown this once.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/oauth/clients", tag = "oauth2",
    request_body(content = CreateClient, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Registered (`Cache-Control: no-store`)", body = ClientWithSecret),
        (status = 400, description = "Malformed body or invalid fields", body = ErrorBody),
        (status = 401, description = "No bearer token, or a bad one", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 409, description = "The client id is taken", body = ErrorBody)
    )
))]
pub(crate) async fn create_client(State(iam): State<Iam>, request: Request) -> ApiResult<Response> {
    let body: CreateClient = json_body(request).await?;
    let (client, secret) = iam
        .register_client(NewClient {
            id: body.client_id,
            name: body.name,
            scopes: body.scopes,
            grant_types: body
                .grant_types
                .unwrap_or_else(|| vec![GrantType::ClientCredentials]),
            access_token_ttl: body.access_token_ttl.map(Duration::from_secs),
        })
        .await?;
    Ok(with_secret(ClientView::from(&client), secret.0))
}

/// Lists the clients (role `admin`), without secrets.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/oauth/clients", tag = "oauth2",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The clients, by id", body = [ClientView]),
        (status = 401, description = "No bearer token, or a bad one", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody)
    )
))]
pub(crate) async fn list_clients(State(iam): State<Iam>) -> ApiResult<Json<Vec<ClientView>>> {
    let clients = iam.oauth_store().list_clients().await?;
    Ok(Json(clients.iter().map(ClientView::from).collect()))
}

/// Disables a client (role `admin`) and revokes its refresh tokens.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/oauth/clients/{id}/disable", tag = "oauth2",
    params(("id" = String, Path, description = "The client id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Disabled", body = ClientView),
        (status = 401, description = "No bearer token, or a bad one", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody)
    )
))]
pub(crate) async fn disable_client(
    State(iam): State<Iam>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClientView>> {
    let client = iam.disable_client(&id).await?;
    Ok(Json(ClientView::from(&client)))
}

/// Gives a client a new secret (role `admin`), shown this once; the old one stops working.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/oauth/clients/{id}/secret", tag = "oauth2",
    params(("id" = String, Path, description = "The client id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret (`Cache-Control: no-store`)", body = ClientWithSecret),
        (status = 401, description = "No bearer token, or a bad one", body = ErrorBody),
        (status = 403, description = "The token lacks the role `admin`", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody)
    )
))]
pub(crate) async fn rotate_secret(
    State(iam): State<Iam>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (client, secret) = iam.rotate_client_secret(&id).await?;
    Ok(with_secret(ClientView::from(&client), secret.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(json: &str) -> Result<Option<u64>, serde_json::Error> {
        serde_json::from_str::<CreateClient>(&format!(
            r#"{{"name":"app","accessTokenTtl":{json}}}"#
        ))
        .map(|c| c.access_token_ttl)
    }

    #[test]
    fn an_access_token_lifetime_is_any_whole_json_number() {
        assert_eq!(ttl("60").unwrap(), Some(60));
        assert_eq!(ttl("60.0").unwrap(), Some(60));
        assert_eq!(ttl("6e1").unwrap(), Some(60));
        assert_eq!(ttl("null").unwrap(), None);
        for bad in ["60.5", "-1", "1e300", "\"60\""] {
            assert!(ttl(bad).is_err(), "{bad}");
        }
    }
}

//! `POST /oauth2/revoke`: token revocation (RFC 7009), for authenticated clients.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::errors::{OAuthError, no_store};
use super::form::read_form;
use super::request_address;
use crate::iam::Iam;

/// Revokes a refresh token and its whole family (form `token`, optional
/// `token_type_hint`; client authenticated).
///
/// Answers 200 for an unknown or invalid token (RFC 7009 section 2.2: an invalid token is
/// no error, since the client's aim, that the token is unusable, is met).
///
/// A refresh token issued to another client is refused and left alone: RFC 7009 section
/// 2.1 says the server "verifies whether the token was issued to the client making the
/// revocation request. If this validation fails, the request is refused and the client is
/// informed of the error", and section 2.2.1 points to the RFC 6749 section 5.2 error
/// responses. The answer is `unauthorized_client` (400): the authenticated client is not
/// authorized for this token. ORY fosite answers the same (`unauthorized_client`, 400,
/// "Token was not issued to the client making the revocation request"); Keycloak answers
/// 400 `invalid_request` ("Unmatching clients"). Only a client that already holds
/// another client's token learns that it exists, and the token stays usable by its
/// owner.
///
/// Access tokens are JWTs that resource services check on their own: they cannot be
/// revoked and stay valid until they expire (the short access-token lifetime is the
/// bound); revoking the refresh token stops new ones.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/oauth2/revoke", tag = "oauth2",
    request_body(content = super::introspect::TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 section 2.2)"),
        (status = 400, description = "invalid_request, or unauthorized_client: the token was issued to another client (RFC 7009 section 2.1)", body = super::token_endpoint::OAuthErrorBody),
        (status = 401, description = "invalid_client (`WWW-Authenticate: Basic`)", body = super::token_endpoint::OAuthErrorBody),
        (status = 429, description = "Too many failed client authentications", body = super::token_endpoint::OAuthErrorBody)
    )
))]
pub(crate) async fn revoke(State(iam): State<Iam>, request: Request) -> Response {
    let address = request_address(&iam, &request);
    let result = async {
        let (headers, form) = read_form(request).await?;
        let token = form.require("token", "token is required")?;
        let client = iam.authenticate_client(&headers, &form, address).await?;
        let store = &iam.inner.oauth.store;
        let record = store
            .find_refresh_token(&iam.refresh_token_hash(token))
            .await?;
        if let Some(record) = record {
            if record.client_id != client.id {
                tracing::warn!(client_id = %client.id,
                    "a client asked to revoke another client's refresh token: refused");
                return Err(OAuthError::UnauthorizedClient(
                    "the token was not issued to this client",
                ));
            }
            let revoked = store.revoke_refresh_family(&record.family_id).await?;
            tracing::info!(client_id = %client.id, revoked, "revoked a refresh token family");
        }
        Ok::<_, OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(err) => err.into_response(),
    }
}

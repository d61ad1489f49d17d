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
/// Answers 200 for any token, known or not (RFC 7009 section 2.2: an invalid token is no
/// error, since the client's aim, that the token is unusable, is met). A refresh token of
/// another client is left alone and also answered 200, so the endpoint tells nobody which
/// tokens exist. Access tokens are JWTs that resource services check on their own: they
/// cannot be revoked and stay valid until they expire (the short access-token lifetime is
/// the bound); revoking the refresh token stops new ones.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/oauth2/revoke", tag = "oauth2",
    request_body(content = super::introspect::TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 section 2.2)"),
        (status = 400, description = "invalid_request", body = super::token_endpoint::OAuthErrorBody),
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
        if let Some(record) = record.filter(|r| r.client_id == client.id) {
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

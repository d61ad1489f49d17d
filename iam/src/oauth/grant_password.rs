//! The `password` grant (RFC 6749 section 4.3): a user's name and password, checked and
//! throttled as the login route checks them.

use std::net::IpAddr;

use super::errors::OAuthError;
use super::form::OAuthForm;
use super::scope;
use super::store::{GrantType, OAuthClient};
use super::token_endpoint::{OAuthTokenResponse, Subject};
use crate::iam::Iam;
use crate::routes::{MAX_NAME_CHARS, rehash};

/// An access token for the user (their id as `sub`, their roles, the client's id and the
/// granted scopes), and a refresh token when the client may use the `refresh_token` grant.
/// A wrong name or password is `invalid_grant`, counted against the name and the address
/// by the login throttle.
pub(crate) async fn issue(
    iam: &Iam,
    client: &OAuthClient,
    form: &OAuthForm,
    address: Option<IpAddr>,
) -> Result<OAuthTokenResponse, OAuthError> {
    let username = form.require("username", "username is required")?;
    let password = form.require("password", "password is required")?;
    let scopes = scope::grant(form.get("scope"), &client.scopes)?;
    if username.chars().any(char::is_control)
        || username.chars().count() > MAX_NAME_CHARS
        || password.len() > iam.passwords().max_password_bytes()
    {
        // Cannot exist: fail like a wrong password, before anything logs the name.
        return Err(OAuthError::InvalidGrant("invalid user name or password"));
    }
    let reservation = iam
        .inner
        .throttle
        .reserve(username, address)
        .await
        .map_err(|wait| {
            tracing::info!(user = %username, "password grant throttled");
            OAuthError::Throttled(wait)
        })?;
    let found = iam.store().find_by_name(username).await?;
    let verification = iam
        .passwords()
        .verify(password, found.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let Some(user) = found.filter(|_| verification.matches) else {
        reservation.failed();
        tracing::info!(user = %username, client_id = %client.id, "password grant failed");
        return Err(OAuthError::InvalidGrant("invalid user name or password"));
    };
    drop(reservation);
    if verification.needs_rehash {
        rehash(iam, &user.id, password).await;
    }
    let subject = Subject {
        sub: &user.id,
        name: &user.name,
        roles: &user.roles,
    };
    let mut issued = iam.access_token(&subject, client, &scopes)?;
    if client.allows(GrantType::RefreshToken) {
        issued.refresh_token = Some(
            iam.issue_refresh_token(&client.id, &user.id, &issued.scope)
                .await?,
        );
    }
    Ok(issued)
}

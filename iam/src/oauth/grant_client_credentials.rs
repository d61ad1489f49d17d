//! The `client_credentials` grant (RFC 6749 section 4.4): the client acts for itself.

use super::errors::OAuthError;
use super::form::OAuthForm;
use super::scope;
use super::store::OAuthClient;
use super::token_endpoint::{OAuthTokenResponse, Subject};
use crate::iam::Iam;

/// An access token whose `sub` and `client_id` are the client's id, with the requested
/// scopes (all the client's when none are asked for). No refresh token: RFC 6749 section
/// 4.4.3 says one SHOULD NOT be included, the client can simply authenticate again.
pub(crate) fn issue(
    iam: &Iam,
    client: &OAuthClient,
    form: &OAuthForm,
) -> Result<OAuthTokenResponse, OAuthError> {
    let scopes = scope::grant(form.get("scope"), &client.scopes)?;
    let subject = Subject {
        sub: &client.id,
        name: &client.id,
        roles: &[],
    };
    iam.access_token(&subject, client, &scopes)
}

//! The `refresh_token` grant (RFC 6749 section 6), with rotation on every use and reuse
//! detection (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2).

use super::errors::OAuthError;
use super::form::OAuthForm;
use super::refresh::Family;
use super::scope;
use super::store::{OAuthClient, RefreshTokenRecord, RefreshTokenState};
use super::token_endpoint::{OAuthTokenResponse, Subject};
use crate::IamError;
use crate::iam::Iam;

/// A presented refresh token and its stored record, if any: looked up by the token
/// endpoint while it authenticates the client, and used only once it has.
pub(crate) struct Presented {
    hash: String,
    record: Option<RefreshTokenRecord>,
}

/// Looks up the form's refresh token. Nothing is judged yet: the client is not known.
pub(crate) async fn look_up(iam: &Iam, form: &OAuthForm) -> Result<Presented, OAuthError> {
    let token = form.require("refresh_token", "refresh_token is required")?;
    let hash = iam.refresh_token_hash(token);
    let record = iam.inner.oauth.store.find_refresh_token(&hash).await?;
    Ok(Presented { hash, record })
}

/// A new access token and a new refresh token for a refresh token, `presented` by
/// `client` (what [`look_up`] found).
///
/// - The token must be active, unexpired and issued to this client; else `invalid_grant`
///   and nothing changes (another client cannot burn a token it stole).
/// - Every use rotates it: the presented token becomes `used` and its successor of the
///   same family is stored, in one step of the store, so of two concurrent uses at most
///   one wins. The loser's use counts as a reuse and revokes the family, the winner's
///   new token included (RFC 9700 section 4.14.2). (Both lose when that revocation
///   reaches the family before the winner's rotation asks whether it was revoked.)
/// - Presenting a `used` token again is a reuse: someone holds a copy, so the whole family
///   is revoked, the newest token included.
/// - `scope` may narrow the access token's scopes (RFC 6749 section 6: never beyond the
///   original grant); the new refresh token keeps the original scopes, as the same
///   section requires.
/// - The user must still exist; their current roles go into the access token.
pub(crate) async fn issue(
    iam: &Iam,
    client: &OAuthClient,
    form: &OAuthForm,
    presented: Presented,
) -> Result<OAuthTokenResponse, OAuthError> {
    let oauth = &iam.inner.oauth;
    let Some(record) = presented.record else {
        return Err(OAuthError::InvalidGrant("unknown refresh token"));
    };
    if record.client_id != client.id {
        tracing::warn!(client_id = %client.id, "a client presented another client's refresh token");
        return Err(OAuthError::InvalidGrant("unknown refresh token"));
    }
    match record.state {
        RefreshTokenState::Active => {}
        RefreshTokenState::Used => return Err(reuse(iam, &record.family_id, &client.id).await),
        RefreshTokenState::Revoked => {
            return Err(OAuthError::InvalidGrant("the refresh token was revoked"));
        }
    }
    if record.expires_at <= iam.inner.tokens.clock.unix_seconds() {
        return Err(OAuthError::InvalidGrant("the refresh token has expired"));
    }
    let granted = scope::split(&record.scope);
    let scopes = scope::grant(form.get("scope"), &granted)?;
    let family = Family {
        id: &record.family_id,
        issued_at: record.family_issued_at,
    };
    let (new_token, successor) =
        iam.new_refresh_token(&client.id, &record.user_id, &record.scope, Some(family))?;
    // The user is read while the token rotates: the refresh's latency is its round trips
    // to the store, so those that do not depend on each other run side by side.
    let (rotated, user) = tokio::join!(
        oauth.store.rotate_refresh_token(&presented.hash, successor),
        iam.store().get(&record.user_id)
    );
    if !rotated? {
        // Used by another request between the look and the write (a reuse too), or its
        // family revoked meanwhile: either way the family ends here.
        return Err(reuse(iam, &record.family_id, &client.id).await);
    }
    let user = match user {
        Ok(user) => user,
        Err(IamError::UnknownUser { .. } | IamError::MalformedId) => {
            oauth.store.revoke_refresh_family(&record.family_id).await?;
            return Err(OAuthError::InvalidGrant("the user no longer exists"));
        }
        Err(other) => return Err(other.into()),
    };
    let subject = Subject {
        sub: &user.id,
        name: &user.name,
        roles: &user.roles,
    };
    let mut issued = iam.access_token(&subject, client, &scopes)?;
    issued.refresh_token = Some(new_token);
    Ok(issued)
}

/// Revokes the family of a reused token and makes the error to answer.
async fn reuse(iam: &Iam, family_id: &str, client_id: &str) -> OAuthError {
    match iam.inner.oauth.store.revoke_refresh_family(family_id).await {
        Ok(revoked) => {
            tracing::warn!(client_id = %client_id, family = %family_id, revoked,
                "a used refresh token was presented again: revoked its family");
            OAuthError::InvalidGrant("the refresh token was already used")
        }
        Err(err) => err.into(),
    }
}

//! The `refresh_token` grant (RFC 6749 section 6), with rotation on every use and reuse
//! detection (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2).

use super::errors::OAuthError;
use super::form::OAuthForm;
use super::refresh::Family;
use super::scope;
use super::store::{OAuthClient, RefreshTokenState};
use super::token_endpoint::{OAuthTokenResponse, Subject};
use crate::IamError;
use crate::iam::Iam;

/// A new access token and a new refresh token for a refresh token.
///
/// - The token must be active, unexpired and issued to this client; else `invalid_grant`
///   and nothing changes (another client cannot burn a token it stole).
/// - Every use rotates it: the presented token becomes `used` in one atomic step, so of
///   two concurrent uses at most one wins, and a new token of the same family is issued.
///   The loser's use counts as a reuse and revokes the family, the winner's new token
///   included (RFC 9700 section 4.14.2): the winner gets its access token and either no
///   refresh token or one already revoked. (Both lose when the reuse revokes the
///   presented token before the winner marks it used.)
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
) -> Result<OAuthTokenResponse, OAuthError> {
    let token = form.require("refresh_token", "refresh_token is required")?;
    let oauth = &iam.inner.oauth;
    let hash = iam.refresh_token_hash(token);
    let Some(record) = oauth.store.find_refresh_token(&hash).await? else {
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
    // The user is read while the token is consumed: two round trips to the store at once
    // instead of one after the other (the refresh's latency is its round trips).
    let (consumed, user) = tokio::join!(
        oauth.store.consume_refresh_token(&hash),
        iam.store().get(&record.user_id)
    );
    if !consumed? {
        // Another request used it between the look and the write: that is a reuse too.
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
    let family = Family {
        id: &record.family_id,
        issued_at: record.family_issued_at,
    };
    let new_token = iam
        .issue_refresh_token(&client.id, &user.id, &record.scope, Some(family))
        .await?;
    // A concurrent use of the same token (the race's loser) is a reuse, and a user's or
    // client's revocation may run meanwhile: either may have begun before the new token
    // existed. The store records a family's revocation before it touches the tokens, so
    // asking now either finds the family revoked, or the revocation began after the
    // insert and reaches the new token itself. If revoked, revoke the family again (the
    // new token's own record included) and answer with the access token only: this
    // request won the rotation, but the family is over.
    if oauth.store.is_family_revoked(&record.family_id).await? {
        oauth.store.revoke_refresh_family(&record.family_id).await?;
    } else {
        issued.refresh_token = Some(new_token);
    }
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

//! Refresh tokens: issued opaque and high-entropy, stored as a keyed hash, bound to a
//! client and a user, limited by an idle and an absolute lifetime.

use super::secrets::{Purpose, new_id, new_secret};
use super::store::{RefreshTokenRecord, RefreshTokenState};
use crate::IamError;
use crate::iam::Iam;

/// The family a rotated token continues: its id and when its first token was issued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family<'a> {
    pub(crate) id: &'a str,
    pub(crate) issued_at: u64,
}

impl Iam {
    /// Stores a new refresh token for `user_id` and `client_id` with `scope`, starting a
    /// family, and returns it (the only time it exists in clear).
    pub(crate) async fn issue_refresh_token(
        &self,
        client_id: &str,
        user_id: &str,
        scope: &str,
    ) -> Result<String, IamError> {
        let (token, record) = self.new_refresh_token(client_id, user_id, scope, None)?;
        self.inner.oauth.store.insert_refresh_token(record).await?;
        Ok(token)
    }

    /// A new refresh token for `user_id` and `client_id` with `scope` and its record, not
    /// stored yet. Without `family` it starts a new one.
    ///
    /// It expires at the earlier of now plus the idle lifetime and the family's start plus
    /// the absolute lifetime.
    pub(crate) fn new_refresh_token(
        &self,
        client_id: &str,
        user_id: &str,
        scope: &str,
        family: Option<Family<'_>>,
    ) -> Result<(String, RefreshTokenRecord), IamError> {
        let oauth = &self.inner.oauth;
        let now = self.inner.tokens.clock.unix_seconds();
        let (family_id, family_issued_at) = match family {
            Some(family) => (family.id.to_owned(), family.issued_at),
            None => (new_id()?, now),
        };
        let idle_end = now.saturating_add(oauth.refresh_idle_ttl.as_secs());
        let absolute_end = family_issued_at.saturating_add(oauth.refresh_absolute_ttl.as_secs());
        let token = new_secret()?;
        let record = RefreshTokenRecord {
            hash: self.refresh_token_hash(&token),
            family_id,
            client_id: client_id.to_owned(),
            user_id: user_id.to_owned(),
            scope: scope.to_owned(),
            issued_at: now,
            family_issued_at,
            expires_at: idle_end.min(absolute_end),
            family_expires_at: absolute_end,
            state: RefreshTokenState::Active,
        };
        Ok((token, record))
    }

    /// The lookup key of a presented refresh token.
    pub(crate) fn refresh_token_hash(&self, token: &str) -> String {
        self.inner.oauth.secrets.hash(Purpose::RefreshToken, token)
    }

    /// The stored record of `token` if it can be used now by `client_id`: active, not
    /// expired, issued to that client. Anything else is `None`, without a change.
    pub(crate) async fn usable_refresh_token(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<Option<RefreshTokenRecord>, IamError> {
        let now = self.inner.tokens.clock.unix_seconds();
        let record = self
            .inner
            .oauth
            .store
            .find_refresh_token(&self.refresh_token_hash(token))
            .await?;
        Ok(record.filter(|r| {
            r.state == RefreshTokenState::Active && r.expires_at > now && r.client_id == client_id
        }))
    }

    /// Revokes every refresh token of the user: after a delete, a role change or a
    /// password change, no session of theirs survives.
    pub async fn revoke_user_refresh_tokens(&self, user_id: &str) -> Result<u64, IamError> {
        let revoked = self
            .inner
            .oauth
            .store
            .revoke_user_refresh_tokens(user_id)
            .await?;
        if revoked > 0 {
            tracing::info!(id = %user_id, revoked, "revoked the user's refresh tokens");
        }
        Ok(revoked)
    }
}

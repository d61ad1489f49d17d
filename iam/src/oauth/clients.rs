//! Registering clients and changing them: [`NewClient`] and the [`Iam`] methods behind the
//! client-management routes.

use std::fmt;
use std::time::Duration;

use super::client_auth::is_valid_client_id;
use super::scope::is_scope_token;
use super::secrets::{Purpose, new_id, new_secret};
use super::store::{ClientUpdate, GrantType, OAuthClient, OAuthStore};
use crate::IamError;
use crate::iam::Iam;

/// A client to register with [`Iam::register_client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// The `client_id`, or `None` for a random one. 1 to 64 of `A-Z a-z 0-9 . _ ~ -`.
    pub id: Option<String>,
    /// A name for people: no control character, and 1 to 64 characters once surrounding
    /// whitespace is trimmed.
    pub name: String,
    /// The scopes the client may ask for (RFC 6749 section 3.3 scope tokens).
    pub scopes: Vec<String>,
    /// The grant types the client may use; at least one.
    pub grant_types: Vec<GrantType>,
    /// The lifetime of its access tokens, or `None` for the configured default: 1 second
    /// up to the IAM's token lifetime.
    pub access_token_ttl: Option<Duration>,
}

/// A client secret, shown once when a client is registered or its secret is rotated.
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(pub String);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl Iam {
    /// The store of OAuth clients and refresh tokens.
    pub fn oauth_store(&self) -> &std::sync::Arc<dyn OAuthStore> {
        &self.inner.oauth.store
    }

    /// Registers a client with a new random secret (256 bits), returned here and never
    /// again: only its keyed hash is stored. Invalid fields are [`IamError::Validation`], a
    /// taken id [`IamError::DuplicateClient`].
    pub async fn register_client(
        &self,
        client: NewClient,
    ) -> Result<(OAuthClient, ClientSecret), IamError> {
        let id = match client.id {
            Some(id) => id,
            None => new_id()?,
        };
        if !is_valid_client_id(&id) {
            return Err(IamError::Validation(
                "clientId must be 1 to 64 of A-Z a-z 0-9 . _ ~ -".to_owned(),
            ));
        }
        // Control characters are refused anywhere, before trimming, as for user names.
        let name = client.name.trim();
        if name.is_empty() || name.chars().count() > 64 || client.name.chars().any(char::is_control)
        {
            return Err(IamError::Validation(
                "name must be 1 to 64 printable characters".to_owned(),
            ));
        }
        if !client.scopes.iter().all(|s| is_scope_token(s)) {
            return Err(IamError::Validation(
                "scopes must be RFC 6749 scope tokens (printable ASCII, no space, quote or backslash)"
                    .to_owned(),
            ));
        }
        if client.grant_types.is_empty() {
            return Err(IamError::Validation(
                "grantTypes must name at least one grant type".to_owned(),
            ));
        }
        let max = self.inner.tokens.ttl;
        if let Some(ttl) = client.access_token_ttl
            && (ttl < Duration::from_secs(1) || ttl > max)
        {
            return Err(IamError::Validation(format!(
                "accessTokenTtl must be 1 to {} seconds",
                max.as_secs()
            )));
        }
        let mut scopes: Vec<String> = Vec::new();
        for scope in client.scopes {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let mut grant_types: Vec<GrantType> = Vec::new();
        for grant in client.grant_types {
            if !grant_types.contains(&grant) {
                grant_types.push(grant);
            }
        }
        let secret = new_secret()?;
        let stored = OAuthClient {
            secret_hash: self.client_secret_hash(&id, &secret),
            id,
            name: name.to_owned(),
            scopes,
            grant_types,
            access_token_ttl: client.access_token_ttl.map(|d| d.as_secs()),
            disabled: false,
            created_at: self.inner.tokens.clock.unix_seconds(),
        };
        self.inner.oauth.store.create_client(stored.clone()).await?;
        tracing::info!(client_id = %stored.id, "registered an OAuth client");
        Ok((stored, ClientSecret(secret)))
    }

    /// Disables a client: it can no longer authenticate, and its refresh tokens are
    /// revoked.
    pub async fn disable_client(&self, id: &str) -> Result<OAuthClient, IamError> {
        let store = &self.inner.oauth.store;
        let client = store
            .update_client(
                id,
                ClientUpdate {
                    disabled: Some(true),
                    ..ClientUpdate::default()
                },
            )
            .await?;
        let revoked = store.revoke_client_refresh_tokens(id).await?;
        tracing::info!(client_id = %client.id, revoked, "disabled an OAuth client");
        Ok(client)
    }

    /// Gives a client a new random secret, returned here only; the old one stops working
    /// at once. Its refresh tokens stay valid (they need the new secret to be used).
    pub async fn rotate_client_secret(
        &self,
        id: &str,
    ) -> Result<(OAuthClient, ClientSecret), IamError> {
        let secret = new_secret()?;
        let client = self
            .inner
            .oauth
            .store
            .update_client(
                id,
                ClientUpdate {
                    secret_hash: Some(self.client_secret_hash(id, &secret)),
                    ..ClientUpdate::default()
                },
            )
            .await?;
        tracing::info!(client_id = %client.id, "rotated an OAuth client's secret");
        Ok((client, ClientSecret(secret)))
    }

    pub(crate) fn client_secret_hash(&self, id: &str, secret: &str) -> String {
        self.inner
            .oauth
            .secrets
            .hash(Purpose::ClientSecret(id), secret)
    }
}

//! OAuth clients and refresh tokens, and where they are kept: the [`OAuthStore`] trait and
//! its implementations.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::IamError;

mod memory;
#[cfg(feature = "mongodb")]
mod mongo;
#[cfg(feature = "mongodb")]
mod mongo_documents;

pub use memory::MemoryOAuthStore;
#[cfg(feature = "mongodb")]
pub use mongo::MongoOAuthStore;

/// A grant type a client may use at the token endpoint (RFC 6749 sections 4.3, 4.4 and 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GrantType {
    /// `client_credentials` (RFC 6749 section 4.4): the client acts for itself.
    ClientCredentials,
    /// `password` (RFC 6749 section 4.3): a user's name and password.
    Password,
    /// `refresh_token` (RFC 6749 section 6): a refresh token for a new access token.
    RefreshToken,
}

impl GrantType {
    /// Every grant type, in the order the metadata lists them.
    pub const ALL: [GrantType; 3] = [
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
    ];

    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        GrantType::ALL
            .into_iter()
            .find(|grant| grant.as_str() == text)
            .ok_or(())
    }
}

/// A registered OAuth client. Its `Debug` output redacts the secret hash; routes send a
/// [`ClientView`], which has none.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The `client_id`: 1 to 64 characters from `A-Z a-z 0-9 . _ ~ -`.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The keyed hash of the secret (hexadecimal), never the secret.
    pub secret_hash: String,
    /// The scopes the client may ask for; the default when it asks for none.
    pub scopes: Vec<String>,
    /// The grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// The lifetime of its access tokens in seconds, or `None` for the IAM's default.
    pub access_token_ttl: Option<u64>,
    /// A disabled client cannot authenticate.
    pub disabled: bool,
    /// When the client was registered (Unix seconds).
    pub created_at: u64,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret_hash", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("grant_types", &self.grant_types)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl OAuthClient {
    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// What the client-management routes send for a client: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = OAuthClient))]
pub struct ClientView {
    /// The `client_id`.
    pub client_id: String,
    /// A name for people.
    pub name: String,
    /// The scopes the client may ask for.
    pub scopes: Vec<String>,
    /// The grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// The lifetime of its access tokens in seconds, if it has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<u64>,
    /// Whether the client is disabled.
    pub disabled: bool,
    /// When the client was registered (Unix seconds).
    pub created_at: u64,
}

impl From<&OAuthClient> for ClientView {
    fn from(client: &OAuthClient) -> Self {
        Self {
            client_id: client.id.clone(),
            name: client.name.clone(),
            scopes: client.scopes.clone(),
            grant_types: client.grant_types.clone(),
            access_token_ttl: client.access_token_ttl,
            disabled: client.disabled,
            created_at: client.created_at,
        }
    }
}

/// A change to a client: each `Some` field is replaced, each `None` kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientUpdate {
    /// Disable (`true`) or enable (`false`) the client.
    pub disabled: Option<bool>,
    /// A new secret hash.
    pub secret_hash: Option<String>,
}

impl fmt::Debug for ClientUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientUpdate")
            .field("disabled", &self.disabled)
            .field(
                "secret_hash",
                &self.secret_hash.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where a refresh token stands. Only an `Active` token can be used, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenState {
    /// Never used: the next use rotates it.
    Active,
    /// Used once and replaced; presenting it again is a reuse, which revokes its family.
    Used,
    /// Revoked: by reuse detection, revocation (RFC 7009), or a change to its user or
    /// client.
    Revoked,
}

/// A stored refresh token: its keyed hash (never the token), its family and its limits.
///
/// Every rotation makes a new record in the same family; the family shares the absolute
/// expiry counted from its first token.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// The keyed hash of the token (hexadecimal): the lookup key.
    pub hash: String,
    /// The family: every token rotated from one grant.
    pub family_id: String,
    /// The client it was issued to; only that client can use it.
    pub client_id: String,
    /// The user it stands for.
    pub user_id: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// When this token was issued (Unix seconds).
    pub issued_at: u64,
    /// When the family's first token was issued (Unix seconds): the absolute lifetime
    /// counts from here.
    pub family_issued_at: u64,
    /// When this token expires (Unix seconds): the earlier of the idle and the absolute
    /// limit.
    pub expires_at: u64,
    /// When the family ends (Unix seconds): its first token's issue time plus the absolute
    /// lifetime. A used or revoked record is kept until then, so that presenting it again
    /// is still seen as a reuse while a newer token of its family may be alive.
    pub family_expires_at: u64,
    /// Active, used or revoked.
    pub state: RefreshTokenState,
}

impl fmt::Debug for RefreshTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRecord")
            .field("hash", &"<redacted>")
            .field("family_id", &self.family_id)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("scope", &self.scope)
            .field("issued_at", &self.issued_at)
            .field("family_issued_at", &self.family_issued_at)
            .field("expires_at", &self.expires_at)
            .field("family_expires_at", &self.family_expires_at)
            .field("state", &self.state)
            .finish()
    }
}

impl RefreshTokenRecord {
    /// Whether the record can no longer matter at `now`: see
    /// [`OAuthStore::delete_expired_refresh_tokens`].
    pub fn is_purgeable(&self, now: u64) -> bool {
        self.family_expires_at <= now
            || (self.state == RefreshTokenState::Active && self.expires_at <= now)
    }
}

/// Where OAuth clients and refresh tokens are kept, so that every IAM instance sharing the
/// store can authenticate the clients, and refresh and revoke what another issued.
///
/// Implementations must keep client ids unique ([`IamError::DuplicateClient`]), report
/// unknown ones as [`IamError::UnknownClient`], an unreachable backend as
/// [`IamError::Unavailable`], and make [`rotate_refresh_token`](Self::rotate_refresh_token)
/// atomic for its callers: of several concurrent rotations of one token, from any number
/// of instances, at most one gets `true`, and exactly one when nothing revokes the family
/// meanwhile.
///
/// A revocation must also reach a token that a concurrent rotation adds to a family it
/// revokes: it records each family it reaches as revoked (one single-document write each)
/// before it changes the tokens, and from then on every token of such a family, also one
/// inserted later, reads as [`RefreshTokenState::Revoked`] and cannot be rotated. A
/// rotation asks for that record only after its successor is stored, so either it finds
/// the family revoked or the revocation began after the insert and revokes the successor
/// itself (RFC 9700 section 4.14.2: after a reuse no token of the family survives).
///
/// The behavioural test suite in `iam/tests/oauth_store_suite/mod.rs` checks this for any
/// implementation.
#[async_trait]
pub trait OAuthStore: Send + Sync + fmt::Debug + 'static {
    /// Registers a new client.
    async fn create_client(&self, client: OAuthClient) -> Result<(), IamError>;

    /// Registers or replaces the client with this id (the bootstrap client).
    async fn put_client(&self, client: OAuthClient) -> Result<(), IamError>;

    /// The client with this id, if any.
    async fn get_client(&self, id: &str) -> Result<Option<OAuthClient>, IamError>;

    /// Every client, ordered by id.
    async fn list_clients(&self) -> Result<Vec<OAuthClient>, IamError>;

    /// Applies `update` to the client with this id and returns the result.
    async fn update_client(&self, id: &str, update: ClientUpdate) -> Result<OAuthClient, IamError>;

    /// Stores a new refresh token.
    async fn insert_refresh_token(&self, record: RefreshTokenRecord) -> Result<(), IamError>;

    /// The refresh token with this hash, whatever its state; `Revoked` if a revocation
    /// reached its family, even after the token was inserted.
    async fn find_refresh_token(&self, hash: &str) -> Result<Option<RefreshTokenRecord>, IamError>;

    /// Rotates the refresh token `hash`: marks it `Used` if it is `Active`, and stores
    /// `successor`, the next token of the same family. `true` when this call made the
    /// change and the family was not revoked once `successor` was stored; `false` when the
    /// token was not active (anymore), is unknown, or its family was revoked, and then
    /// `successor` can never be used (stored revoked, or not at all).
    ///
    /// One call instead of a consume and an insert, so that a store can run its steps
    /// side by side: the refresh grant's latency is its round trips to the store.
    async fn rotate_refresh_token(
        &self,
        hash: &str,
        successor: RefreshTokenRecord,
    ) -> Result<bool, IamError>;

    /// Records the family as revoked, then revokes every token of it; returns how many
    /// were not revoked yet.
    async fn revoke_refresh_family(&self, family_id: &str) -> Result<u64, IamError>;

    /// Revokes every refresh token of the user, and records their families as revoked
    /// first, as [`revoke_refresh_family`](Self::revoke_refresh_family) does; returns how
    /// many were not revoked yet.
    async fn revoke_user_refresh_tokens(&self, user_id: &str) -> Result<u64, IamError>;

    /// Revokes every refresh token of the client, and records their families as revoked
    /// first, as [`revoke_refresh_family`](Self::revoke_refresh_family) does; returns how
    /// many were not revoked yet.
    async fn revoke_client_refresh_tokens(&self, client_id: &str) -> Result<u64, IamError>;

    /// Deletes at most `limit` refresh-token records that can no longer matter at `now`
    /// (Unix seconds) and returns how many it deleted:
    ///
    /// - an `Active` record once `expires_at <= now`: it can no longer be used, and no
    ///   newer token of its family exists;
    /// - any record once `family_expires_at <= now`: every token of the family has expired.
    ///
    /// A `Used` or `Revoked` record whose own `expires_at` has passed is kept until its
    /// family ends: presenting it again must still revoke the family (reuse detection).
    /// The IAM calls this periodically ([`OAuthSettings::refresh_sweep_interval`](crate::OAuthSettings::refresh_sweep_interval)),
    /// so that expired tokens go on any backend.
    async fn delete_expired_refresh_tokens(&self, now: u64, limit: u64) -> Result<u64, IamError>;

    /// Whether clients and tokens outlive the process (a database) or not (memory).
    fn is_persistent(&self) -> bool;
}

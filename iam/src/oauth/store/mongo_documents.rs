//! The BSON documents of `MongoOAuthStore`: a client and a refresh token as stored, and
//! their conversions (Unix seconds as BSON integers and dates).

use mongodb::bson::DateTime;
use serde::{Deserialize, Serialize};

use super::{GrantType, OAuthClient, RefreshTokenRecord, RefreshTokenState};

/// Unix seconds as a BSON date (saturating).
pub(super) fn to_date(seconds: u64) -> DateTime {
    DateTime::from_millis(to_i64(seconds).saturating_mul(1000))
}

/// Unix seconds as BSON stores them (no unsigned 64-bit integers in BSON).
pub(super) fn to_i64(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(seconds: i64) -> u64 {
    u64::try_from(seconds).unwrap_or(0)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientDocument {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) name: String,
    pub(super) secret_hash: String,
    #[serde(default)]
    pub(super) scopes: Vec<String>,
    #[serde(default)]
    pub(super) grant_types: Vec<GrantType>,
    #[serde(default)]
    pub(super) access_token_ttl: Option<i64>,
    #[serde(default)]
    pub(super) disabled: bool,
    #[serde(default)]
    pub(super) created_at: i64,
}

impl From<OAuthClient> for ClientDocument {
    fn from(client: OAuthClient) -> Self {
        Self {
            id: client.id,
            name: client.name,
            secret_hash: client.secret_hash,
            scopes: client.scopes,
            grant_types: client.grant_types,
            access_token_ttl: client.access_token_ttl.map(to_i64),
            disabled: client.disabled,
            created_at: to_i64(client.created_at),
        }
    }
}

impl From<ClientDocument> for OAuthClient {
    fn from(doc: ClientDocument) -> Self {
        Self {
            id: doc.id,
            name: doc.name,
            secret_hash: doc.secret_hash,
            scopes: doc.scopes,
            grant_types: doc.grant_types,
            access_token_ttl: doc.access_token_ttl.map(to_u64),
            disabled: doc.disabled,
            created_at: to_u64(doc.created_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefreshTokenDocument {
    #[serde(rename = "_id")]
    pub(super) hash: String,
    pub(super) family_id: String,
    pub(super) client_id: String,
    pub(super) user_id: String,
    pub(super) scope: String,
    pub(super) issued_at: i64,
    pub(super) family_issued_at: i64,
    pub(super) expires_at: i64,
    /// Missing in documents written before it existed: read as `expiresAt`.
    #[serde(default)]
    pub(super) family_expires_at: Option<i64>,
    /// `expiresAt` as a date, for the TTL index.
    #[serde(default)]
    pub(super) active_until: Option<DateTime>,
    /// `familyExpiresAt` as a date, for the TTL index.
    #[serde(default)]
    pub(super) family_until: Option<DateTime>,
    pub(super) state: RefreshTokenState,
}

impl From<RefreshTokenRecord> for RefreshTokenDocument {
    fn from(record: RefreshTokenRecord) -> Self {
        Self {
            hash: record.hash,
            family_id: record.family_id,
            client_id: record.client_id,
            user_id: record.user_id,
            scope: record.scope,
            issued_at: to_i64(record.issued_at),
            family_issued_at: to_i64(record.family_issued_at),
            expires_at: to_i64(record.expires_at),
            family_expires_at: Some(to_i64(record.family_expires_at)),
            active_until: Some(to_date(record.expires_at)),
            family_until: Some(to_date(record.family_expires_at)),
            state: record.state,
        }
    }
}

impl From<RefreshTokenDocument> for RefreshTokenRecord {
    fn from(doc: RefreshTokenDocument) -> Self {
        Self {
            hash: doc.hash,
            family_id: doc.family_id,
            client_id: doc.client_id,
            user_id: doc.user_id,
            scope: doc.scope,
            issued_at: to_u64(doc.issued_at),
            family_issued_at: to_u64(doc.family_issued_at),
            expires_at: to_u64(doc.expires_at),
            family_expires_at: to_u64(doc.family_expires_at.unwrap_or(doc.expires_at)),
            state: doc.state,
        }
    }
}

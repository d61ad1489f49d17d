//! [`MemoryOAuthStore`], the embedded default.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{ClientUpdate, OAuthClient, OAuthStore, RefreshTokenRecord, RefreshTokenState};
use crate::IamError;

/// Clients and refresh tokens in memory, lost when the process ends: the embedded
/// default, for tests and single-instance services. One lock guards everything, so a
/// token is checked, marked used and followed by its successor in one step.
///
/// A revocation also records each family it reaches, as `MongoOAuthStore` does, so that a
/// token a rotation adds to a revoked family afterwards reads as revoked too.
/// Expired refresh tokens are dropped by the IAM's periodic sweep and, in case nobody
/// runs it, every 1024 inserts, with the rule of
/// [`OAuthStore::delete_expired_refresh_tokens`]: memory stays bounded by the tokens
/// and families still alive.
#[derive(Debug, Default)]
pub struct MemoryOAuthStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    clients: BTreeMap<String, OAuthClient>,
    refresh_tokens: HashMap<String, RefreshTokenRecord>,
    inserts: u64,
    /// Revoked families, each until the latest expiry among its tokens.
    revoked_families: HashMap<String, u64>,
}

impl Inner {
    fn insert_refresh_token(&mut self, record: RefreshTokenRecord) {
        self.inserts += 1;
        if self.inserts.is_multiple_of(PRUNE_EVERY) {
            // Forget what can no longer matter, so memory stays bounded by the tokens (and
            // families) still alive even without the IAM's periodic sweep. The new token's
            // issue time is "now".
            let now = record.issued_at;
            self.refresh_tokens.retain(|_, r| !r.is_purgeable(now));
            self.revoked_families.retain(|_, until| *until > now);
        }
        self.refresh_tokens.insert(record.hash.clone(), record);
    }
}

/// How many refresh-token inserts pass between two sweeps of expired records.
const PRUNE_EVERY: u64 = 1024;

impl MemoryOAuthStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every write below is a single insert or field change, so a poisoned lock still
        // holds consistent maps.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn revoke_where(&self, matches: impl Fn(&RefreshTokenRecord) -> bool) -> u64 {
        let mut inner = self.lock();
        let reached: Vec<(String, u64)> = inner
            .refresh_tokens
            .values()
            .filter(|r| matches(r) && r.state != RefreshTokenState::Revoked)
            .map(|r| (r.family_id.clone(), r.expires_at))
            .collect();
        for (family, expires_at) in reached {
            let until = inner.revoked_families.entry(family).or_insert(expires_at);
            *until = (*until).max(expires_at);
        }
        let mut revoked = 0;
        for record in inner.refresh_tokens.values_mut() {
            if matches(record) && record.state != RefreshTokenState::Revoked {
                record.state = RefreshTokenState::Revoked;
                revoked += 1;
            }
        }
        revoked
    }
}

#[async_trait]
impl OAuthStore for MemoryOAuthStore {
    async fn create_client(&self, client: OAuthClient) -> Result<(), IamError> {
        let mut inner = self.lock();
        if inner.clients.contains_key(&client.id) {
            return Err(IamError::DuplicateClient { id: client.id });
        }
        inner.clients.insert(client.id.clone(), client);
        Ok(())
    }

    async fn put_client(&self, client: OAuthClient) -> Result<(), IamError> {
        self.lock().clients.insert(client.id.clone(), client);
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<OAuthClient>, IamError> {
        Ok(self.lock().clients.get(id).cloned())
    }

    async fn list_clients(&self) -> Result<Vec<OAuthClient>, IamError> {
        Ok(self.lock().clients.values().cloned().collect())
    }

    async fn update_client(&self, id: &str, update: ClientUpdate) -> Result<OAuthClient, IamError> {
        let mut inner = self.lock();
        let client = inner
            .clients
            .get_mut(id)
            .ok_or_else(|| IamError::UnknownClient { id: id.to_owned() })?;
        if let Some(disabled) = update.disabled {
            client.disabled = disabled;
        }
        if let Some(hash) = update.secret_hash {
            client.secret_hash = hash;
        }
        Ok(client.clone())
    }

    async fn insert_refresh_token(&self, record: RefreshTokenRecord) -> Result<(), IamError> {
        self.lock().insert_refresh_token(record);
        Ok(())
    }

    async fn find_refresh_token(&self, hash: &str) -> Result<Option<RefreshTokenRecord>, IamError> {
        let inner = self.lock();
        Ok(inner.refresh_tokens.get(hash).map(|record| {
            let mut record = record.clone();
            if inner.revoked_families.contains_key(&record.family_id) {
                record.state = RefreshTokenState::Revoked;
            }
            record
        }))
    }

    async fn rotate_refresh_token(
        &self,
        hash: &str,
        successor: RefreshTokenRecord,
    ) -> Result<bool, IamError> {
        let mut inner = self.lock();
        let Inner {
            refresh_tokens,
            revoked_families,
            ..
        } = &mut *inner;
        let rotated = match refresh_tokens.get_mut(hash) {
            Some(record) if revoked_families.contains_key(&record.family_id) => {
                record.state = RefreshTokenState::Revoked;
                false
            }
            Some(record) if record.state == RefreshTokenState::Active => {
                record.state = RefreshTokenState::Used;
                true
            }
            _ => false,
        };
        if rotated {
            inner.insert_refresh_token(successor);
        }
        Ok(rotated)
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> Result<u64, IamError> {
        Ok(self.revoke_where(|r| r.family_id == family_id))
    }

    async fn revoke_user_refresh_tokens(&self, user_id: &str) -> Result<u64, IamError> {
        Ok(self.revoke_where(|r| r.user_id == user_id))
    }

    async fn revoke_client_refresh_tokens(&self, client_id: &str) -> Result<u64, IamError> {
        Ok(self.revoke_where(|r| r.client_id == client_id))
    }

    async fn delete_expired_refresh_tokens(&self, now: u64, limit: u64) -> Result<u64, IamError> {
        let mut inner = self.lock();
        inner.revoked_families.retain(|_, until| *until > now);
        let expired: Vec<String> = inner
            .refresh_tokens
            .values()
            .filter(|r| r.is_purgeable(now))
            .map(|r| r.hash.clone())
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        for hash in &expired {
            inner.refresh_tokens.remove(hash);
        }
        Ok(u64::try_from(expired.len()).unwrap_or(u64::MAX))
    }

    fn is_persistent(&self) -> bool {
        false
    }
}

//! The verified-token cache: a bounded, sharded map from the SHA-256 of a token to its
//! verified claims, each entry living until the token expires.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::claims::Verified;

const SHARDS: usize = 16;

/// The SHA-256 of a token.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The key is already a uniform hash: its first eight bytes are the map's hash.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(buf);
        }
    }

    fn write_usize(&mut self, _length_prefix: usize) {}
}

#[derive(Debug)]
struct Entry {
    verified: Arc<Verified>,
    /// Unix seconds after which the entry is dead: `exp` plus the leeway.
    expires_at: u64,
    /// The key generation the token was verified under.
    generation: u64,
}

type Shard = HashMap<TokenDigest, Entry, BuildHasherDefault<PrefixHasher>>;

/// A bounded map of verified tokens.
#[derive(Debug)]
pub(crate) struct TokenCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl TokenCache {
    /// A cache holding about `capacity` tokens (at least one per shard).
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
        }
    }

    fn shard(&self, key: &TokenDigest) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[usize::from(key[31]) % SHARDS]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The verified token, if cached, still alive at `now` and from `generation`.
    pub(crate) fn get(
        &self,
        key: &TokenDigest,
        now: u64,
        generation: u64,
    ) -> Option<Arc<Verified>> {
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(entry) if entry.expires_at >= now && entry.generation == generation => {
                Some(Arc::clone(&entry.verified))
            }
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified token until `expires_at`.
    pub(crate) fn insert(
        &self,
        key: TokenDigest,
        verified: Arc<Verified>,
        expires_at: u64,
        now: u64,
        generation: u64,
    ) {
        let mut shard = self.shard(&key);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, e| e.expires_at >= now && e.generation == generation);
            if shard.len() >= self.per_shard {
                // Keys are hashes, so the first one is as good as a random victim.
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(
            key,
            Entry {
                verified,
                expires_at,
                generation,
            },
        );
    }

    /// The number of cached tokens.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Claims;

    fn verified() -> Arc<Verified> {
        Arc::new(Verified {
            claims: Claims {
                sub: String::new(),
                name: String::new(),
                role: String::new(),
                roles: Vec::new(),
                scope: String::new(),
                iss: "i".into(),
                aud: Vec::new(),
                exp: 100,
                iat: None,
                nbf: None,
                jti: None,
                extra: (),
            },
            payload: Box::new([]),
        })
    }

    #[test]
    fn entries_die_with_the_token() {
        let cache = TokenCache::new(10);
        let key = digest("a.b.c");
        cache.insert(key, verified(), 100, 50, 0);
        assert!(cache.get(&key, 100, 0).is_some());
        assert!(cache.get(&key, 101, 0).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn entries_from_an_older_key_generation_are_misses() {
        let cache = TokenCache::new(10);
        let key = digest("a.b.c");
        cache.insert(key, verified(), 100, 50, 0);
        assert!(cache.get(&key, 60, 1).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = TokenCache::new(32);
        for i in 0..1000 {
            cache.insert(digest(&format!("token{i}")), verified(), 100, 50, 0);
        }
        assert!(cache.len() <= 32, "{} entries", cache.len());
        assert!(cache.len() >= 16);
    }
}

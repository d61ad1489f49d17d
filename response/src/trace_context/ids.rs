//! Fresh trace and span ids: never all zero, unpredictable enough to avoid collisions
//! (they are not secrets).

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static KEYS: OnceLock<RandomState> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(1);

/// 64 bits: a counter through std's keyed hash, whose keys come from the operating
/// system's random source once per process.
fn next_u64() -> u64 {
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    KEYS.get_or_init(RandomState::new).hash_one(count)
}

/// A non-zero 16-byte trace id.
pub(super) fn trace_id() -> [u8; 16] {
    loop {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&next_u64().to_be_bytes());
        id[8..].copy_from_slice(&next_u64().to_be_bytes());
        if id != [0; 16] {
            return id;
        }
    }
}

/// A non-zero 8-byte span id.
pub(super) fn span_id() -> [u8; 8] {
    loop {
        let id = next_u64().to_be_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

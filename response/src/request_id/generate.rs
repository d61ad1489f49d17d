//! Fresh request ids: UUID-shaped, a random prefix per process and a counter.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::HeaderValue;

/// A fresh id as a header value. Its bytes live in one shared allocation, so the copy
/// that goes on the response is a reference count, not a second allocation.
pub(super) fn new_request_id() -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from_owner(next_request_id()))
        .expect("hex digits and dashes are a valid header value")
}

static REQUEST_ID_PREFIX: OnceLock<u64> = OnceLock::new();
static REQUEST_ID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random bits: the keys of std's `RandomState` come from the operating system's random
/// source (read once per thread), and its keyed hash is as unpredictable as those keys.
fn random_prefix() -> u64 {
    RandomState::new().hash_one(std::process::id())
}

fn next_request_id() -> [u8; 36] {
    let prefix = *REQUEST_ID_PREFIX.get_or_init(random_prefix);
    let count = REQUEST_ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    request_id_text(prefix, count)
}

/// `prefix` and `count` as `xxxxxxxx-xxxx-8xxx-Nxxx-xxxxxxxxxxxx`; the version and variant
/// bits replace 4 bits of the prefix and the top 2 bits of the count (reached after 2^62
/// requests only).
fn request_id_text(prefix: u64, count: u64) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&prefix.to_be_bytes());
    raw[8..].copy_from_slice(&count.to_be_bytes());
    raw[6] = (raw[6] & 0x0f) | 0x80;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (index, byte) in raw.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0x0f)];
        at += 2;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_carry_prefix_and_count() {
        let text = request_id_text(0x0123_4567_89ab_cdef, 0x2a);
        assert_eq!(&text, b"01234567-89ab-8def-8000-00000000002a");
        let first = next_request_id();
        let second = next_request_id();
        assert_ne!(first, second);
        assert_eq!(first[..18], second[..18], "one prefix per process");
    }

    #[test]
    fn request_id_prefixes_differ_between_draws() {
        assert_ne!(random_prefix(), random_prefix());
    }
}

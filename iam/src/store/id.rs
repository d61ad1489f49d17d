//! `ObjectId`-shaped user ids, also used by stores that are not `MongoDB`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::IamError;

/// A new id in `MongoDB`'s `ObjectId` layout (4 bytes of seconds, 5 random bytes fixed per
/// process, a 3-byte counter), as 24 lowercase hexadecimal digits. Ids made later in one
/// process sort after earlier ones (within the counter's range).
pub fn new_object_id() -> String {
    static PROCESS: OnceLock<[u8; 5]> = OnceLock::new();
    static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
    let process = PROCESS.get_or_init(|| {
        let mut bytes = [0u8; 5];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        bytes
    });
    let counter = COUNTER.get_or_init(|| {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        AtomicU32::new(u32::from_be_bytes(bytes) & 0x00ff_ffff)
    });
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as u32;
    let count = counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&seconds.to_be_bytes());
    bytes[4..9].copy_from_slice(process);
    bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
    hex(&bytes)
}

/// Checks that `id` is 24 hexadecimal digits and returns it in lowercase.
pub fn parse_object_id(id: &str) -> Result<String, IamError> {
    if id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(IamError::MalformedId)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(24), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_valid_unique_and_increasing() {
        let a = new_object_id();
        let b = new_object_id();
        assert_eq!(parse_object_id(&a).unwrap(), a);
        assert_ne!(a, b);
        assert!(a < b || a[..8] != b[..8]);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "123",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
            "0123456789abcdef012345678",
        ] {
            assert!(
                matches!(parse_object_id(bad), Err(IamError::MalformedId)),
                "{bad}"
            );
        }
        assert_eq!(
            parse_object_id("0123456789ABCDEF01234567").unwrap(),
            "0123456789abcdef01234567"
        );
    }
}

//! Splitting a compact JWS into its three parts, before anything is decoded.

/// A token split into its parts; `message` is `header.payload`, the signed bytes.
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    pub(crate) message: &'a str,
}

/// The bytes a compact JWS may hold: base64url and the dot.
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
        b += 1;
    }
    table
};

/// Exactly three non-empty base64url segments, or `None`.
///
/// Stricter than `jsonwebtoken::decode`, which splits on the last two dots and lets the
/// base64 decoder find other bytes: here padding, `+`, `/`, spaces and a fourth segment
/// are refused before any decoding.
pub(crate) fn split(token: &str) -> Option<Parts<'_>> {
    if !token.bytes().all(|b| TOKEN_BYTES[usize::from(b)]) {
        return None;
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return None;
    }
    Some(Parts {
        header,
        payload,
        signature,
        message: &token[..header.len() + 1 + payload.len()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_into_exactly_three_base64url_segments() {
        let parts = split("a.b.c").unwrap();
        assert_eq!(
            (parts.header, parts.payload, parts.signature, parts.message),
            ("a", "b", "c", "a.b")
        );
        for bad in [
            "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c d", "a.b.c=", "a.b+.c", "",
        ] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }
}

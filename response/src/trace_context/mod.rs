//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` header a
//! request arrives with, and the one to send on calls made on its behalf, so that a trace
//! id follows a request from service to service.
//!
//! The defaults ([`RouterExt`](crate::RouterExt)) run each request in the scope of its
//! trace: a valid incoming `traceparent` (with its `tracestate`), or a new trace when it is
//! missing or malformed, which is ignored, never an error (section 3.2.2: "the vendor MUST
//! ignore the header"). The trace id is recorded in the request's span (`trace_id`), and
//! [`TraceContext::inject_current`] puts a child of it on any outgoing call (section
//! 3.2.2.3: a fresh parent id per hop), with `tracestate` as it came (section 3.3.1).

mod current;
mod ids;

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

pub(crate) use current::TraceScope;

/// The `traceparent` header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The `tracestate` header, passed on unchanged.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The `traceparent` of version `00` is exactly this long (section 3.2).
const VERSION_00_LEN: usize = 55;

/// A position in a trace: the trace id, the id of the span that is the parent of the next
/// call, and the trace flags (bit 0: sampled).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl std::fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.traceparent_text()))
    }
}

impl TraceContext {
    /// The context of a valid `traceparent` in `headers`, else `None`. Follows section
    /// 3.2.2 and 4.3: lowercase hex only, the all-zero trace and parent ids invalid,
    /// version `ff` invalid; a higher version is read by its first 55 characters when the
    /// next one is `-`. Several `traceparent` headers are invalid.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut values = headers.get_all(TRACEPARENT).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        Self::parse(value.as_bytes())
    }

    /// Parses one `traceparent` value.
    pub fn parse(value: &[u8]) -> Option<Self> {
        if value.len() < VERSION_00_LEN {
            return None;
        }
        let version = hex_byte(&value[0..2])?;
        // Version 00 is exactly 55 characters; a later version may add fields after a `-`;
        // version ff is invalid.
        let well_formed = match version {
            0xff => false,
            0x00 => value.len() == VERSION_00_LEN,
            _ => value.len() == VERSION_00_LEN || value[VERSION_00_LEN] == b'-',
        };
        if !well_formed {
            return None;
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (index, byte) in trace_id.iter_mut().enumerate() {
            *byte = hex_byte(&value[3 + 2 * index..5 + 2 * index])?;
        }
        let mut parent_id = [0u8; 8];
        for (index, byte) in parent_id.iter_mut().enumerate() {
            *byte = hex_byte(&value[36 + 2 * index..38 + 2 * index])?;
        }
        let flags = hex_byte(&value[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new trace, sampled, for a call made with no incoming context.
    pub fn new_root() -> Self {
        Self {
            trace_id: ids::trace_id(),
            parent_id: ids::span_id(),
            flags: 0x01,
        }
    }

    /// The context to send on a call made on this one's behalf: the same trace and flags,
    /// a fresh parent id (the span of this hop).
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            parent_id: ids::span_id(),
            ..*self
        }
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        String::from_utf8_lossy(&self.traceparent_text()[3..35]).into_owned()
    }

    /// The parent id, 16 lowercase hex digits.
    pub fn parent_id(&self) -> String {
        String::from_utf8_lossy(&self.traceparent_text()[36..52]).into_owned()
    }

    /// Whether the caller sampled the trace (flag bit 0).
    pub fn is_sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }

    /// The `traceparent` value, version `00`.
    pub fn traceparent(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.traceparent_text()).expect("hex digits and dashes")
    }

    fn traceparent_text(&self) -> [u8; VERSION_00_LEN] {
        let mut text = [b'-'; VERSION_00_LEN];
        text[0] = b'0';
        text[1] = b'0';
        write_hex(&mut text[3..35], &self.trace_id);
        write_hex(&mut text[36..52], &self.parent_id);
        write_hex(&mut text[53..55], &[self.flags]);
        text
    }
}

/// A trace id as its 32 hex digits, for a span field, without allocating.
pub(crate) struct TraceIdText(pub(crate) TraceContext);

impl fmt::Display for TraceIdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.traceparent_text();
        f.write_str(std::str::from_utf8(&text[3..35]).map_err(|_| fmt::Error)?)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    for (index, byte) in bytes.iter().enumerate() {
        out[2 * index] = HEX[usize::from(byte >> 4)];
        out[2 * index + 1] = HEX[usize::from(byte & 0x0f)];
    }
}

/// Two lowercase hex digits (the specification allows no uppercase).
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(pair[0])? << 4 | digit(pair[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(TRACEPARENT, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_specifications_example_is_read_and_written_back() {
        let context = TraceContext::from_headers(&headers(&[VALID])).unwrap();
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.parent_id(), "00f067aa0ba902b7");
        assert!(context.is_sampled());
        assert_eq!(context.traceparent(), VALID);
        assert_eq!(
            TraceIdText(context).to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_with_a_fresh_parent() {
        let context = TraceContext::parse(VALID.as_bytes()).unwrap();
        let child = context.child();
        assert_eq!(child.trace_id(), context.trace_id());
        assert_eq!(child.flags, context.flags);
        assert_ne!(child.parent_id(), context.parent_id());
        assert_ne!(child.parent_id(), "0000000000000000");
        let root = TraceContext::new_root();
        assert_ne!(root.trace_id(), TraceContext::new_root().trace_id());
        assert_eq!(
            TraceContext::parse(root.traceparent().as_bytes()),
            Some(root)
        );
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                TraceContext::from_headers(&headers(&[bad])),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(TraceContext::from_headers(&headers(&[VALID, VALID])), None);
        assert_eq!(TraceContext::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn a_future_version_is_read_by_its_first_fields() {
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        let context = TraceContext::parse(future.as_bytes()).unwrap();
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.traceparent().as_bytes()[..2], *b"00");
    }
}

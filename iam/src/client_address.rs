//! Which client a login comes from: the TCP peer, or the address a trusted proxy forwarded,
//! bucketed so that one IPv6 client cannot spread over its whole prefix.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

use crate::ConfigError;

/// The header proxies append the client's address to (RFC 7239 practice: each proxy
/// appends the address it received the request from, so the rightmost entries are the
/// nearest proxies' own).
pub(crate) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`): a trusted proxy
/// for [`ThrottlePolicy::trusted_proxies`](crate::ThrottlePolicy::trusted_proxies).
///
/// Parse it from text; anything else than an address or a range with a valid prefix
/// length is a [`ConfigError::TrustedProxy`].
///
/// ```
/// use portcullis_iam::IpRange;
///
/// let range: IpRange = "10.0.0.0/8".parse()?;
/// assert!(range.contains("10.1.2.3".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<IpRange>().is_err());
/// # Ok::<(), portcullis_iam::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange(IpNet);

impl IpRange {
    /// Whether `address` lies in this range. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) counts as its IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.contains(&address.to_canonical())
    }
}

impl FromStr for IpRange {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let error = || ConfigError::TrustedProxy {
            entry: text.to_owned(),
        };
        if text.contains('/') {
            let net: IpNet = text.parse().map_err(|_| error())?;
            Ok(Self(net.trunc()))
        } else {
            let address: IpAddr = text.parse().map_err(|_| error())?;
            Ok(Self::from(address))
        }
    }
}

impl From<IpAddr> for IpRange {
    fn from(address: IpAddr) -> Self {
        Self(IpNet::from(address.to_canonical()))
    }
}

impl fmt::Debug for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// How the client address of a login is found and bucketed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddressPolicy {
    pub(crate) trusted_proxies: Vec<IpRange>,
    pub(crate) forwarded_hops: usize,
    pub(crate) ipv6_prefix_len: u8,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            forwarded_hops: 1,
            ipv6_prefix_len: 64,
        }
    }
}

impl AddressPolicy {
    fn trusts(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|r| r.contains(address))
    }

    /// The client address of a request: starting from the TCP `peer`, while the address
    /// in hand is a trusted proxy and fewer than `forwarded_hops` entries were taken, the
    /// next `X-Forwarded-For` entry from the right. An untrusted peer's header is
    /// ignored; an entry that is not an address stops the walk.
    pub(crate) fn client_address(
        &self,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
    ) -> Option<IpAddr> {
        let mut address = peer?.to_canonical();
        if self.trusted_proxies.is_empty() {
            return Some(address);
        }
        // Several header lines form one list, in order (RFC 9110 section 5.3).
        let mut entries = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|value| value.to_str().unwrap_or_default().rsplit(','));
        for _ in 0..self.forwarded_hops {
            if !self.trusts(address) {
                break;
            }
            match entries.next().and_then(parse_entry) {
                Some(next) => address = next.to_canonical(),
                None => break,
            }
        }
        Some(address)
    }

    /// The throttle's key for `address`: an IPv4 address itself, an IPv6 address cut to
    /// its prefix (one client usually holds a whole /64).
    pub(crate) fn bucket(&self, address: IpAddr) -> IpAddr {
        match address.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let len = u32::from(self.ipv6_prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.ipv6_prefix_len > 128 {
            return Err(ConfigError::Invalid(format!(
                "the IPv6 prefix length for login throttling is {}; it must be 0 to 128",
                self.ipv6_prefix_len
            )));
        }
        Ok(())
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`,
/// `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for value in values {
            map.append(X_FORWARDED_FOR, value.parse().unwrap());
        }
        map
    }

    fn behind(proxies: &[&str], hops: usize) -> AddressPolicy {
        AddressPolicy {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            forwarded_hops: hops,
            ..AddressPolicy::default()
        }
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let policy = AddressPolicy::default();
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(
            policy.client_address(&forged, Some(ip("10.0.0.1"))),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn an_untrusted_peers_header_is_ignored() {
        let policy = behind(&["10.0.0.0/8"], 1);
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(
            policy.client_address(&forged, Some(ip("192.0.2.1"))),
            Some(ip("192.0.2.1"))
        );
    }

    #[test]
    fn a_trusted_proxy_gives_the_rightmost_entry_only() {
        let policy = behind(&["10.0.0.0/8"], 1);
        // The client wrote "1.1.1.1" itself; the proxy appended what it saw.
        let sent = headers(&["1.1.1.1, 198.51.100.4"]);
        assert_eq!(
            policy.client_address(&sent, Some(ip("10.2.3.4"))),
            Some(ip("198.51.100.4"))
        );
        assert_eq!(
            policy.client_address(&http::HeaderMap::new(), Some(ip("10.2.3.4"))),
            Some(ip("10.2.3.4"))
        );
    }

    #[test]
    fn two_hops_walk_through_trusted_proxies_only() {
        let policy = behind(&["10.0.0.0/8", "192.168.1.1"], 2);
        let peer = Some(ip("10.0.0.1"));
        // client -> 192.168.1.1 (trusted) -> 10.0.0.1 (peer)
        let chained = headers(&["6.6.6.6, 198.51.100.4", "192.168.1.1"]);
        assert_eq!(
            policy.client_address(&chained, peer),
            Some(ip("198.51.100.4"))
        );
        // A client that reached the first proxy directly: its entry is not a proxy, so the
        // walk stops there and a forged entry to its left is not used.
        let direct = headers(&["6.6.6.6, 198.51.100.4"]);
        assert_eq!(
            policy.client_address(&direct, peer),
            Some(ip("198.51.100.4"))
        );
    }

    #[test]
    fn entries_may_carry_ports_and_garbage_stops_the_walk() {
        let policy = behind(&["127.0.0.1"], 1);
        let peer = Some(ip("127.0.0.1"));
        assert_eq!(
            policy.client_address(&headers(&["[2001:db8::7]:443"]), peer),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(
            policy.client_address(&headers(&["198.51.100.4:1234"]), peer),
            Some(ip("198.51.100.4"))
        );
        assert_eq!(
            policy.client_address(&headers(&["unknown"]), peer),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_prefix() {
        let policy = AddressPolicy::default();
        assert_eq!(
            policy.bucket(ip("2001:db8:1:2:aaaa::1")),
            policy.bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            policy.bucket(ip("2001:db8:1:2::1")),
            policy.bucket(ip("2001:db8:1:3::1"))
        );
        assert_ne!(
            policy.bucket(ip("192.0.2.1")),
            policy.bucket(ip("192.0.2.2"))
        );
        assert_eq!(policy.bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        let per_48 = AddressPolicy {
            ipv6_prefix_len: 48,
            ..AddressPolicy::default()
        };
        assert_eq!(
            per_48.bucket(ip("2001:db8:1:2::1")),
            per_48.bucket(ip("2001:db8:1:3::1"))
        );
        let per_128 = AddressPolicy {
            ipv6_prefix_len: 128,
            ..AddressPolicy::default()
        };
        assert_ne!(per_128.bucket(ip("::1")), per_128.bucket(ip("::2")));
    }

    #[test]
    fn invalid_ranges_are_config_errors() {
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::1/129", ""] {
            let err = bad.parse::<IpRange>().unwrap_err();
            assert!(matches!(err, ConfigError::TrustedProxy { .. }), "{bad}");
        }
        let range: IpRange = "10.1.2.3/8".parse().unwrap();
        assert_eq!(range.to_string(), "10.0.0.0/8");
        assert!(range.contains(ip("::ffff:10.9.9.9")));
    }
}

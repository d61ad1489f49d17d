//! Feature `metrics`: the guard's metrics through the `metrics` facade. The handles are
//! registered once, when the guard is built, with the recorder in force then; without
//! the feature, or without a recorder, every method here does nothing.

#[cfg(feature = "metrics")]
pub(crate) use enabled::{GuardMetrics, JwksMetrics, rejected_by_requirement};

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::{GuardMetrics, JwksMetrics, rejected_by_requirement};

/// Where the keys a guard trusts come from, as the `source` label of `portcullis_guard_keys`.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum KeyOrigin {
    Static,
    Jwks,
    KeySource,
}

/// How a JWKS fetch ended, as the `result` label of `portcullis_guard_jwks_fetches_total`.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum FetchResult {
    /// A usable key set arrived.
    Ok,
    /// No answer: the connection, TLS or the request failed.
    TransportError,
    /// No answer within the fetch timeout.
    Timeout,
    /// An answer other than 200.
    BadStatus,
    /// A 200 whose body is too large, not JSON, or holds no usable key.
    InvalidBody,
}

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};

    use super::{FetchResult, KeyOrigin};
    use crate::error::{GuardError, TokenRejection};

    const REQUESTS: &str = "portcullis_guard_requests_total";
    const CACHE: &str = "portcullis_guard_token_cache_total";
    const FETCHES: &str = "portcullis_guard_jwks_fetches_total";
    const KEYS: &str = "portcullis_guard_keys";

    /// The `reason` label of a rejected request: a bounded set, whatever the token says.
    #[derive(Clone, Copy)]
    enum Reason {
        Missing,
        Malformed,
        Expired,
        NotYetValid,
        BadSignature,
        UnknownKey,
        DisallowedHeader,
        WrongIssuer,
        WrongAudience,
        InsufficientScope,
        KeysUnavailable,
    }

    const REASONS: [(Reason, &str); 11] = [
        (Reason::Missing, "missing"),
        (Reason::Malformed, "malformed"),
        (Reason::Expired, "expired"),
        (Reason::NotYetValid, "not_yet_valid"),
        (Reason::BadSignature, "bad_signature"),
        (Reason::UnknownKey, "unknown_key"),
        (Reason::DisallowedHeader, "disallowed_header"),
        (Reason::WrongIssuer, "wrong_issuer"),
        (Reason::WrongAudience, "wrong_audience"),
        (Reason::InsufficientScope, "insufficient_scope"),
        (Reason::KeysUnavailable, "keys_unavailable"),
    ];

    fn reason(error: &GuardError) -> Reason {
        match error {
            GuardError::MissingCredentials => Reason::Missing,
            GuardError::InvalidRequest(_) => Reason::Malformed,
            GuardError::ExpiredToken => Reason::Expired,
            GuardError::InsufficientScope { .. } => Reason::InsufficientScope,
            GuardError::KeysUnavailable => Reason::KeysUnavailable,
            GuardError::InvalidToken(rejection) => match rejection {
                TokenRejection::TooLarge
                | TokenRejection::Malformed
                | TokenRejection::MalformedHeader
                | TokenRejection::MalformedKeyId
                | TokenRejection::MalformedClaims
                | TokenRejection::MalformedTime
                | TokenRejection::MissingExpiry => Reason::Malformed,
                TokenRejection::UnsupportedAlgorithm
                | TokenRejection::AlgorithmMismatch
                | TokenRejection::EmbeddedKey
                | TokenRejection::UnknownCritical
                | TokenRejection::WrongType => Reason::DisallowedHeader,
                TokenRejection::UnknownKey => Reason::UnknownKey,
                TokenRejection::BadSignature => Reason::BadSignature,
                TokenRejection::WrongIssuer => Reason::WrongIssuer,
                TokenRejection::WrongAudience => Reason::WrongAudience,
                TokenRejection::NotYetValid | TokenRejection::IssuedInFuture => Reason::NotYetValid,
            },
        }
    }

    /// Whether a recorder is installed: metrics' stand-in when none is, is a zero-sized
    /// type, and a real recorder holds its registry. The facade offers no other test.
    fn recorder_installed() -> bool {
        metrics::with_recorder(|recorder| size_of_val(recorder) != 0)
    }

    struct Handles {
        accepted: Counter,
        /// One per reason, in the order of [`REASONS`].
        rejected: [Counter; REASONS.len()],
        cache_hit: Counter,
        cache_miss: Counter,
        static_keys: Gauge,
        source_keys: Gauge,
    }

    /// The request, cache and key metrics of one guard.
    pub(crate) struct GuardMetrics(Option<Handles>);

    impl GuardMetrics {
        pub(crate) fn register() -> Self {
            if !recorder_installed() {
                return Self(None);
            }
            describe_counter!(
                REQUESTS,
                "Requests whose bearer token the guard checked: accepted, or rejected by reason."
            );
            describe_counter!(CACHE, "Lookups in the verified-token cache: hit or miss.");
            describe_gauge!(
                KEYS,
                "Verification keys the guard trusts, by where they come from."
            );
            Self(Some(Handles {
                accepted: counter!(REQUESTS, "result" => "accepted"),
                rejected: REASONS.map(
                    |(_, reason)| counter!(REQUESTS, "result" => "rejected", "reason" => reason),
                ),
                cache_hit: counter!(CACHE, "result" => "hit"),
                cache_miss: counter!(CACHE, "result" => "miss"),
                static_keys: keys_gauge(KeyOrigin::Static),
                source_keys: keys_gauge(KeyOrigin::KeySource),
            }))
        }

        #[inline]
        pub(crate) fn accepted(&self) {
            if let Some(handles) = &self.0 {
                handles.accepted.increment(1);
            }
        }

        pub(crate) fn rejected(&self, error: &GuardError) {
            if let Some(handles) = &self.0 {
                handles.rejected[reason(error) as usize].increment(1);
            }
        }

        #[inline]
        pub(crate) fn cache(&self, hit: bool) {
            if let Some(handles) = &self.0 {
                let counter = if hit {
                    &handles.cache_hit
                } else {
                    &handles.cache_miss
                };
                counter.increment(1);
            }
        }

        pub(crate) fn keys(&self, origin: KeyOrigin, count: usize) {
            if let Some(handles) = &self.0 {
                let gauge = match origin {
                    KeyOrigin::Static => &handles.static_keys,
                    KeyOrigin::KeySource => &handles.source_keys,
                    KeyOrigin::Jwks => return,
                };
                gauge.set(count as f64);
            }
        }
    }

    /// Counts a request refused by a [`RequireLayer`](crate::RequireLayer), which has no
    /// guard and so no handles: looked up by name, as refusals are not the hot path.
    pub(crate) fn rejected_by_requirement(error: &GuardError) {
        let reason = REASONS[reason(error) as usize].1;
        counter!(REQUESTS, "result" => "rejected", "reason" => reason).increment(1);
    }

    fn keys_gauge(origin: KeyOrigin) -> Gauge {
        let source = match origin {
            KeyOrigin::Static => "static",
            KeyOrigin::Jwks => "jwks",
            KeyOrigin::KeySource => "key_source",
        };
        gauge!(KEYS, "source" => source)
    }

    const RESULTS: [(FetchResult, &str); 5] = [
        (FetchResult::Ok, "ok"),
        (FetchResult::TransportError, "transport_error"),
        (FetchResult::Timeout, "timeout"),
        (FetchResult::BadStatus, "bad_status"),
        (FetchResult::InvalidBody, "invalid_body"),
    ];

    /// The fetch metrics of one JWKS. The keys gauge is shared by every JWKS of the
    /// process (a guard may trust several issuers), so each adds the change in its own
    /// count, and takes its keys out when dropped.
    pub(crate) struct JwksMetrics(Option<([Counter; RESULTS.len()], Gauge, AtomicUsize)>);

    impl JwksMetrics {
        pub(crate) fn register() -> Self {
            if !recorder_installed() {
                return Self(None);
            }
            describe_counter!(FETCHES, "Fetches of the JWKS, by result.");
            describe_gauge!(
                KEYS,
                "Verification keys the guard trusts, by where they come from."
            );
            let fetches = RESULTS.map(|(_, result)| counter!(FETCHES, "result" => result));
            Self(Some((
                fetches,
                keys_gauge(KeyOrigin::Jwks),
                AtomicUsize::new(0),
            )))
        }

        /// Counts a fetch; after a usable one, `keys` is how many keys the set gave.
        pub(crate) fn fetched(&self, result: FetchResult, keys: Option<usize>) {
            if let Some((fetches, gauge, counted)) = &self.0 {
                fetches[result as usize].increment(1);
                if let Some(keys) = keys {
                    let before = counted.swap(keys, Ordering::Relaxed);
                    gauge.increment(keys as f64 - before as f64);
                }
            }
        }
    }

    impl Drop for JwksMetrics {
        fn drop(&mut self) {
            if let Some((_, gauge, counted)) = &self.0 {
                gauge.decrement(counted.load(Ordering::Relaxed) as f64);
            }
        }
    }

    impl std::fmt::Debug for JwksMetrics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_tuple("JwksMetrics")
                .field(&self.0.is_some())
                .finish()
        }
    }
}

#[cfg(not(feature = "metrics"))]
// The same methods as with the feature, so that callers need no `cfg`.
#[allow(clippy::unused_self)]
mod disabled {
    use super::{FetchResult, KeyOrigin};
    use crate::error::GuardError;

    /// Without the feature: nothing to record.
    pub(crate) struct GuardMetrics;

    impl GuardMetrics {
        pub(crate) fn register() -> Self {
            Self
        }

        #[inline]
        pub(crate) fn accepted(&self) {}

        #[inline]
        pub(crate) fn rejected(&self, _error: &GuardError) {}

        #[inline]
        pub(crate) fn cache(&self, _hit: bool) {}

        #[inline]
        pub(crate) fn keys(&self, _origin: KeyOrigin, _count: usize) {}
    }

    #[inline]
    pub(crate) fn rejected_by_requirement(_error: &GuardError) {}

    /// Without the feature: nothing to record.
    #[derive(Debug)]
    pub(crate) struct JwksMetrics;

    impl JwksMetrics {
        pub(crate) fn register() -> Self {
            Self
        }

        #[inline]
        pub(crate) fn fetched(&self, _result: FetchResult, _keys: Option<usize>) {}
    }
}

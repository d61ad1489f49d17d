//! Feature `metrics`: the IAM's metrics through the `metrics` facade (the application
//! installs the exporter). Without the feature every function here does nothing.
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `portcullis_iam_logins_total` | counter | `outcome` |
//! | `portcullis_iam_token_requests_total` | counter | `grant_type`, `outcome` |
//! | `portcullis_iam_throttled_total` | counter | `endpoint` (`login`, `token`) |
//! | `portcullis_iam_password_hash_queue` | gauge | |
//! | `portcullis_iam_password_hash_duration_seconds` | histogram | |
//! | `portcullis_iam_signing_keys` | gauge | |
//! | `portcullis_iam_signing_key_created_timestamp_seconds` | gauge | |
//!
//! The key's age is `time() - portcullis_iam_signing_key_created_timestamp_seconds`: a
//! timestamp, as Prometheus's own `process_start_time_seconds`, stays right between
//! scrapes where an age gauge would be stale. Every label takes a bounded set of values.
//!
//! The handles are looked up per event, not kept: each event costs a registry lookup
//! (well under a microsecond), beside a login's argon2 hash (about 17 ms) or a token's
//! signature.

use std::time::Duration;

use http::StatusCode;

/// The `outcome` label of a login answered with `status`.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn outcome_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "success",
        401 => "invalid_credentials",
        429 => "throttled",
        400..=499 => "invalid_request",
        503 => "unavailable",
        _ => "error",
    }
}

/// A login answered with `status` (`POST {base}/admin/auth`); a 429 also counts as
/// throttled.
pub(crate) fn login(status: StatusCode) {
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_iam_logins_total", "outcome" => outcome_of(status)).increment(1);
    if status == StatusCode::TOO_MANY_REQUESTS {
        throttled("login");
    }
}

/// A token request for `grant_type` (one of the supported names, `unsupported` or
/// `missing`) that ended with `outcome` (`success`, an RFC 6749 section 5.2 code,
/// `throttled`, `unavailable` or `server_error`).
pub(crate) fn token_request(grant_type: &'static str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "portcullis_iam_token_requests_total",
        "grant_type" => grant_type,
        "outcome" => outcome
    )
    .increment(1);
    if outcome == "throttled" {
        throttled("token");
    }
    #[cfg(not(feature = "metrics"))]
    let _ = grant_type;
}

/// An attempt refused by the throttle at `endpoint` (`login` or `token`).
fn throttled(endpoint: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_iam_throttled_total", "endpoint" => endpoint).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = endpoint;
}

/// One caller waiting for a hashing thread, counted in `portcullis_iam_password_hash_queue`
/// until dropped (also when the caller gives up).
pub(crate) struct QueuedHash(());

impl QueuedHash {
    pub(crate) fn enter() -> Self {
        #[cfg(feature = "metrics")]
        metrics::gauge!("portcullis_iam_password_hash_queue").increment(1.0);
        Self(())
    }
}

impl Drop for QueuedHash {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        metrics::gauge!("portcullis_iam_password_hash_queue").decrement(1.0);
    }
}

/// One argon2 hash or verification took `took`.
pub(crate) fn hash_duration(took: Duration) {
    #[cfg(feature = "metrics")]
    metrics::histogram!("portcullis_iam_password_hash_duration_seconds").record(took.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = took;
}

/// The key ring now publishes `published` keys, and its signing key became current at
/// `current_since` (Unix seconds).
pub(crate) fn keys(published: usize, current_since: u64) {
    #[cfg(feature = "metrics")]
    {
        #[allow(clippy::cast_precision_loss)] // a handful of keys, a Unix second: exact in f64
        let (published, current_since) = (published as f64, current_since as f64);
        metrics::gauge!("portcullis_iam_signing_keys").set(published);
        metrics::gauge!("portcullis_iam_signing_key_created_timestamp_seconds").set(current_since);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (published, current_since);
}

/// Describes the families once, so the exporter prints their help and units.
pub(crate) fn describe() {
    #[cfg(feature = "metrics")]
    {
        use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
        describe_counter!(
            "portcullis_iam_logins_total",
            "Logins at the IAM's login route, by outcome."
        );
        describe_counter!(
            "portcullis_iam_token_requests_total",
            "Requests to the OAuth 2.0 token endpoint, by grant type and outcome."
        );
        describe_counter!(
            "portcullis_iam_throttled_total",
            "Attempts refused by the failed-attempt throttle, by endpoint."
        );
        describe_gauge!(
            "portcullis_iam_password_hash_queue",
            "Callers waiting for a password-hashing thread."
        );
        describe_histogram!(
            "portcullis_iam_password_hash_duration_seconds",
            Unit::Seconds,
            "Time of one argon2 hash or verification, on its thread."
        );
        describe_gauge!(
            "portcullis_iam_signing_keys",
            "Keys the IAM publishes in its JWKS."
        );
        describe_gauge!(
            "portcullis_iam_signing_key_created_timestamp_seconds",
            Unit::Seconds,
            "When the current signing key started signing, in Unix seconds."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(outcome_of(StatusCode::OK), "success");
        assert_eq!(outcome_of(StatusCode::UNAUTHORIZED), "invalid_credentials");
        assert_eq!(outcome_of(StatusCode::TOO_MANY_REQUESTS), "throttled");
        assert_eq!(outcome_of(StatusCode::BAD_REQUEST), "invalid_request");
        assert_eq!(
            outcome_of(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            "invalid_request"
        );
        assert_eq!(outcome_of(StatusCode::SERVICE_UNAVAILABLE), "unavailable");
        assert_eq!(outcome_of(StatusCode::INTERNAL_SERVER_ERROR), "error");
    }
}

//! [`ServiceDefaults`], the settings of the defaults.

use std::time::Duration;

#[cfg(doc)]
use crate::{ErrorCode, RouterExt};

/// The settings of [`RouterExt::with_portcullis_defaults`].
///
/// ```
/// use std::time::Duration;
/// use portcullis_response::ServiceDefaults;
///
/// let defaults = ServiceDefaults::new()
///     .body_limit(64 * 1024)
///     .timeout(Duration::from_secs(5));
/// # let _ = defaults;
/// ```
#[derive(Debug, Clone)]
pub struct ServiceDefaults {
    pub(super) body_limit: usize,
    pub(super) timeout: Duration,
    pub(super) problem_json: bool,
}

impl Default for ServiceDefaults {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            timeout: Duration::from_secs(30),
            problem_json: true,
        }
    }
}

impl ServiceDefaults {
    /// The defaults: 1 MiB body limit, 30 s timeout, problem+json on request.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest request body accepted, in bytes; larger ones get 413
    /// [`PayloadTooLarge`](ErrorCode::PayloadTooLarge), whether the `Content-Length` says so
    /// up front or the limit is hit while the body is read. It caps axum's own extractors
    /// too (their separate 2 MB default is replaced by this value). Default is 1 MiB.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long a request may take before it is answered with 504
    /// [`Timeout`](ErrorCode::Timeout). Default is 30 seconds.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether error responses become RFC 9457 `application/problem+json` when the request's
    /// `Accept` names that type. Default is `true`.
    #[must_use]
    pub fn problem_json(mut self, enabled: bool) -> Self {
        self.problem_json = enabled;
        self
    }
}

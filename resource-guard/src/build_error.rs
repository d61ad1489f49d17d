//! [`GuardBuildError`]: what can be wrong with a guard's configuration.

use std::time::Duration;

use jsonwebtoken::Algorithm;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`GuardBuilder::build`](crate::GuardBuilder::build) refused a configuration.
///
/// These are the service's own mistakes, found once at start-up; they never reach a
/// client. What a request can get wrong is a [`GuardError`](crate::GuardError).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum GuardBuildError {
    /// No issuer, or an empty one.
    #[error("an issuer is required")]
    MissingIssuer,
    /// The audience is the empty string.
    #[error("the audience is empty")]
    EmptyAudience,
    /// No key and no key source at all.
    #[error("no key: set an HMAC secret, a public key, a JWK, a JWKS URL or a key source")]
    NoKey,
    /// An HMAC secret shorter than its algorithm's hash (RFC 7518 section 3.2), without
    /// [`dangerous_allow_short_hmac_secret`](crate::GuardBuilder::dangerous_allow_short_hmac_secret).
    #[error(
        "the {alg:?} secret has {len} bytes; RFC 7518 section 3.2 asks for at least {min} \
         (the hash size)"
    )]
    ShortHmacSecret {
        /// The HMAC algorithm.
        alg: Algorithm,
        /// The secret's length in bytes.
        len: usize,
        /// The least length accepted for `alg`.
        min: usize,
    },
    /// A key given to the builder cannot be used (wrong algorithm family, bad PEM or JWK).
    #[error("{message}")]
    InvalidKey {
        /// What is wrong with the key (never the key material).
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A setting is outside the range it may take.
    #[error("{setting} is {value:?}; it must be {allowed}")]
    OutOfRange {
        /// The builder method that set it.
        setting: &'static str,
        /// The value given.
        value: Duration,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// A size or count setting is outside the range it may take.
    #[error("{setting} is {value}; it must be {allowed}")]
    CountOutOfRange {
        /// The builder method that set it.
        setting: &'static str,
        /// The value given.
        value: usize,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// The realm holds characters a quoted `WWW-Authenticate` parameter cannot carry.
    #[error("the realm must be printable ASCII without quotes or backslashes")]
    InvalidRealm,
    /// The JWKS URL does not parse, or is neither `http` nor `https`.
    #[error("the JWKS URL is invalid: {reason}")]
    InvalidJwksUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// An `http://` JWKS URL whose host is not loopback, without
    /// [`allow_insecure_http`](crate::GuardBuilder::allow_insecure_http): anyone on the path
    /// could swap the keys.
    #[error(
        "the JWKS URL is plain http to {host}, which is not loopback; use https, or \
         allow_insecure_http() on a network you trust"
    )]
    InsecureHttp {
        /// The URL's host.
        host: String,
    },
    /// An `https://` JWKS URL without the `rustls` feature.
    #[error("an https JWKS URL needs the `rustls` feature")]
    TlsFeatureMissing,
    /// A trusted root certificate given to the builder is not a usable X.509 certificate.
    #[error("a trusted root certificate is invalid")]
    InvalidRootCertificate {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The HTTP(S) client for the JWKS URL could not be built (for `https://`: often no
    /// CA certificate on the system; install `ca-certificates` or add a root).
    #[error("cannot build the JWKS client")]
    HttpClient {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A JWKS URL is set but `build` does not run inside a tokio runtime.
    #[error("a JWKS URL needs a tokio runtime for its background refresh")]
    NoRuntime,
}

impl GuardBuildError {
    pub(crate) fn invalid_key(message: impl Into<String>) -> Self {
        Self::InvalidKey {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn invalid_key_with(
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::InvalidKey {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

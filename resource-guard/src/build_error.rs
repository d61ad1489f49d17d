//! [`GuardBuildError`]: what can be wrong with a guard's configuration.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::Algorithm;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// An `http://` JWKS URL, issuer or metadata `jwks_uri` whose host is not loopback,
    /// without [`allow_insecure_http`](crate::GuardBuilder::allow_insecure_http): anyone on
    /// the path could swap the keys.
    #[error(
        "a JWKS or issuer URL is plain http to {host}, which is not loopback; use https, or \
         allow_insecure_http() on a network you trust"
    )]
    InsecureHttp {
        /// The URL's host.
        host: String,
    },
    /// An `https://` JWKS URL or issuer without the `rustls` feature.
    #[error("an https JWKS or issuer URL needs the `rustls` feature")]
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
    /// A JWKS URL (or [`from_issuer`](crate::GuardBuilder::from_issuer)) is set but `build`
    /// does not run inside a tokio runtime.
    #[error("a JWKS URL needs a tokio runtime for its background refresh")]
    NoRuntime,
    /// Two trusted issuers have the same `iss`.
    #[error("the issuer {issuer} is trusted twice")]
    DuplicateIssuer {
        /// The issuer.
        issuer: String,
    },
    /// An issuer given to [`from_issuer`](crate::GuardBuilder::from_issuer) is not an
    /// `https` (or loopback `http`) URL without query or fragment (RFC 8414 section 2).
    #[error("the issuer {issuer:?} is not a URL metadata can be read from: {reason}")]
    InvalidIssuerUrl {
        /// The issuer as given.
        issuer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An issuer has a [`jwks_url`](crate::GuardBuilder::jwks_url) and also takes one from
    /// its metadata ([`from_issuer`](crate::GuardBuilder::from_issuer)).
    #[error("the issuer {issuer} has a JWKS URL and reads another from its metadata; set one")]
    TwoJwksUrls {
        /// The issuer.
        issuer: String,
    },
    /// The issuer's metadata, read once at build for
    /// [`from_issuer`](crate::GuardBuilder::from_issuer), could not be fetched or does not
    /// fit the issuer.
    #[error("cannot use the metadata of issuer {issuer} at {url}: {problem}")]
    Metadata {
        /// The issuer as configured.
        issuer: String,
        /// The metadata URL last tried.
        url: String,
        /// What went wrong.
        problem: MetadataProblem,
        /// The underlying transport or JSON error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

/// What was wrong with an issuer's metadata (in [`GuardBuildError::Metadata`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataProblem {
    /// No answer within the [fetch timeout](crate::GuardBuilder::fetch_timeout).
    Timeout,
    /// The connection, TLS or the request failed.
    Unreachable,
    /// An answer other than 2xx (redirects are not followed).
    Status(u16),
    /// A body over the size cap (the one of JWKS responses, 1 MiB).
    TooLarge,
    /// The body is not a JSON object.
    NotJson,
    /// The document's `issuer` is not exactly the configured issuer (RFC 8414 section
    /// 3.3); `None` when it has no string `issuer`.
    IssuerMismatch {
        /// The document's `issuer`.
        found: Option<String>,
    },
    /// The document has no string `jwks_uri`.
    MissingJwksUri,
}

impl fmt::Display for MetadataProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("no answer within the fetch timeout"),
            Self::Unreachable => f.write_str("the request failed"),
            Self::Status(status) => write!(f, "the server answered {status}"),
            Self::TooLarge => f.write_str("the document is larger than 1 MiB"),
            Self::NotJson => f.write_str("the document is not a JSON object"),
            Self::IssuerMismatch { found: Some(found) } => write!(
                f,
                "the document names the issuer {found:?}; RFC 8414 section 3.3 requires it \
                 to equal the configured issuer exactly"
            ),
            Self::IssuerMismatch { found: None } => {
                f.write_str("the document has no issuer (RFC 8414 section 3.3)")
            }
            Self::MissingJwksUri => f.write_str("the document has no jwks_uri"),
        }
    }
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

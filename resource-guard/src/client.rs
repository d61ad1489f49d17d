//! The HTTP(S) client that fetches a JWKS or an issuer's metadata: which one is used for a
//! URL, the rule that keeps keys off plain HTTP on the network, and the fetch itself.

use std::net::IpAddr;
use std::time::Duration;

use portcullis_response::TraceContext;
use portcullis_response::trace_context::TRACEPARENT;

use crate::build_error::GuardBuildError;

/// A JWKS or metadata response larger than this is refused.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a fetch failed (logged, never sent to clients).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[cfg(feature = "rustls")]
    #[error("request failed: {0}")]
    Transport(String),
    #[cfg(feature = "rustls")]
    #[error("the request timed out")]
    TimedOut,
    #[error("unexpected status {0}")]
    Status(reqwest::StatusCode),
    #[error("the response is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the key set is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the key set holds no usable key")]
    NoUsableKey,
}

/// How the builder asked for the client to be made.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// The application's own client, used as given.
    pub(crate) custom: Option<reqwest::Client>,
    pub(crate) timeout: Duration,
    /// Extra trusted roots (DER) for `https://` (feature `rustls`).
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(crate) roots: Vec<Vec<u8>>,
}

/// Parses the JWKS URL and refuses what must not be fetched from (see [`check_scheme`]).
pub(crate) fn check_url(
    url: &str,
    allow_insecure_http: bool,
) -> Result<reqwest::Url, GuardBuildError> {
    let url = reqwest::Url::parse(url).map_err(|e| GuardBuildError::InvalidJwksUrl {
        reason: e.to_string(),
    })?;
    check_scheme(url, allow_insecure_http)
}

/// Refuses schemes other than `http` and `https`, `https` without the `rustls` feature,
/// and plain `http` to a host that is not loopback unless `allow_insecure_http`.
pub(crate) fn check_scheme(
    url: reqwest::Url,
    allow_insecure_http: bool,
) -> Result<reqwest::Url, GuardBuildError> {
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if cfg!(feature = "rustls") => Ok(url),
        "https" => Err(GuardBuildError::TlsFeatureMissing),
        "http" if allow_insecure_http || is_loopback(host) => Ok(url),
        "http" => Err(GuardBuildError::InsecureHttp {
            host: host.to_owned(),
        }),
        _ => Err(GuardBuildError::InvalidJwksUrl {
            reason: "the scheme must be http or https".to_owned(),
        }),
    }
}

/// `localhost`, 127.0.0.0/8 or `::1` (as a URL writes it, in brackets).
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What fetches the key set.
#[derive(Debug, Clone)]
pub(crate) enum FetchClient {
    /// reqwest: the default for `http://`, and any client the application gives.
    Reqwest(reqwest::Client),
    /// rustls on `ring`: the default for `https://` (feature `rustls`).
    #[cfg(feature = "rustls")]
    Tls(crate::tls::TlsClient),
}

impl FetchClient {
    /// The client for `url`: the application's own if given, else reqwest for `http://`
    /// and rustls on `ring` for `https://`, both with the fetch timeout and no redirects.
    pub(crate) fn new(
        url: &reqwest::Url,
        settings: ClientSettings,
    ) -> Result<Self, GuardBuildError> {
        if let Some(client) = settings.custom {
            return Ok(Self::Reqwest(client));
        }
        #[cfg(feature = "rustls")]
        if url.scheme() == "https" {
            return crate::tls::TlsClient::new(settings.timeout, &settings.roots).map(Self::Tls);
        }
        let _ = url;
        reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(Self::Reqwest)
            .map_err(|e| GuardBuildError::HttpClient { source: e.into() })
    }

    /// Fetches `url`: at most [`MAX_BODY_BYTES`], a 2xx status required.
    pub(crate) async fn fetch(&self, url: &reqwest::Url) -> Result<Fetched, FetchError> {
        match self {
            Self::Reqwest(client) => fetch_with_reqwest(client, url).await,
            #[cfg(feature = "rustls")]
            Self::Tls(client) => client.fetch(url).await,
        }
    }
}

/// A `traceparent` for one fetch (W3C Trace Context): a new root trace, since a fetch is
/// made for the guard (at build, in the background, or for any request that meets an
/// unknown `kid`), not on behalf of one request's trace. `portcullis-response`'s
/// [`TraceContext`] is used rather than a local generator: the guard already depends on
/// that crate, and it is the one the services use for their own calls.
pub(crate) fn traceparent() -> http::HeaderValue {
    TraceContext::new_root().traceparent()
}

/// The parts of a successful response the keys need.
pub(crate) struct Fetched {
    /// `Cache-Control: max-age`, when present.
    pub(crate) max_age: Option<Duration>,
    /// The body, at most [`MAX_BODY_BYTES`] long.
    pub(crate) body: Vec<u8>,
}

async fn fetch_with_reqwest(
    client: &reqwest::Client,
    url: &reqwest::Url,
) -> Result<Fetched, FetchError> {
    let mut response = client
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .header(TRACEPARENT, traceparent())
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    let max_age = max_age_of(response.headers());
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { max_age, body })
}

/// The `max-age` of a response's `Cache-Control`, if any.
pub(crate) fn max_age_of(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age)
}

/// The `max-age` of a `Cache-Control` value (`no-store`/`no-cache` count as zero).
fn parse_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        if let Some((name, seconds)) = directive.split_once('=')
            && name.trim().eq_ignore_ascii_case("max-age")
        {
            max_age = seconds
                .trim()
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs);
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            parse_max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
    }

    #[test]
    fn plain_http_is_refused_off_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8808/jwks.json",
            "http://127.1.2.3/jwks.json",
            "http://localhost:1/jwks.json",
            "http://LOCALHOST/jwks.json",
            "http://[::1]:8808/jwks.json",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/jwks.json",
            "http://iam.internal:8808/jwks.json",
            "http://localhost.evil.example/jwks.json",
            "http://[::2]/jwks.json",
            "http://0.0.0.0/jwks.json",
        ] {
            assert!(
                matches!(
                    check_url(bad, false),
                    Err(GuardBuildError::InsecureHttp { .. })
                ),
                "{bad}"
            );
            assert!(check_url(bad, true).is_ok(), "{bad}");
        }
        assert!(matches!(
            check_url("ftp://127.0.0.1/jwks.json", true),
            Err(GuardBuildError::InvalidJwksUrl { .. })
        ));
        assert!(matches!(
            check_url("not a url", true),
            Err(GuardBuildError::InvalidJwksUrl { .. })
        ));
    }
}

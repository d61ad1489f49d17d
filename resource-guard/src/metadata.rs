//! [`from_issuer`](crate::GuardBuilder::from_issuer): the issuer's authorization server
//! metadata (RFC 8414), read once at build, for its `jwks_uri`.
//!
//! The document is fetched with the JWKS client and its limits (timeout, 1 MiB, no
//! redirect, TLS off loopback). RFC 8414's location comes first; only when it answers 404
//! is the `OpenID` Connect Discovery location tried, since many issuers publish only that
//! one. Whichever answers, its `issuer` must equal the configured issuer exactly (RFC 8414
//! section 3.3), so the fallback cannot lead to another issuer's keys.

use serde_json::Value;

use crate::build_error::{BoxError, GuardBuildError, MetadataProblem};
use crate::client::{self, ClientSettings, FetchClient, FetchError};

/// RFC 8414 section 3: the well-known suffix of authorization server metadata.
const RFC8414_SUFFIX: &str = "/.well-known/oauth-authorization-server";
/// `OpenID` Connect Discovery 1.0 section 4: the suffix appended to the issuer.
const OPENID_SUFFIX: &str = "/.well-known/openid-configuration";

/// Where an issuer's metadata may be read.
#[derive(Debug)]
pub(crate) struct MetadataUrls {
    /// RFC 8414 section 3: the suffix inserted between the host and the issuer's path.
    pub(crate) rfc8414: reqwest::Url,
    /// `OpenID` Connect Discovery 1.0 section 4.1: the suffix appended to the issuer.
    pub(crate) openid: reqwest::Url,
}

/// Checks that `issuer` can have metadata (RFC 8414 section 2: an `https` URL without
/// query or fragment; plain `http` only as the JWKS URL would be allowed) and forms its
/// metadata URLs.
pub(crate) fn metadata_urls(
    issuer: &str,
    allow_insecure_http: bool,
) -> Result<MetadataUrls, GuardBuildError> {
    let invalid = |reason: &str| GuardBuildError::InvalidIssuerUrl {
        issuer: issuer.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(issuer).map_err(|e| invalid(&e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it has a query or fragment (RFC 8414 section 2)"));
    }
    if !url.has_host() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it needs a host and no user information"));
    }
    let url = client::check_scheme(url, allow_insecure_http).map_err(|e| match e {
        GuardBuildError::InvalidJwksUrl { .. } => invalid("the scheme must be https or http"),
        other => other,
    })?;
    Ok(well_known(&url))
}

/// The two metadata locations of an issuer URL.
fn well_known(issuer: &reqwest::Url) -> MetadataUrls {
    // RFC 8414 section 3.1: a terminating "/" is removed before the suffix goes in.
    let path = issuer.path().trim_end_matches('/');
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("{RFC8414_SUFFIX}{path}"));
    let mut openid = issuer.clone();
    openid.set_path(&format!("{path}{OPENID_SUFFIX}"));
    MetadataUrls { rfc8414, openid }
}

/// Reads the metadata of `issuer` and returns its `jwks_uri` (not yet checked as a URL).
pub(crate) async fn jwks_uri(
    issuer: &str,
    urls: &MetadataUrls,
    settings: ClientSettings,
) -> Result<String, GuardBuildError> {
    let client = FetchClient::new(&urls.rfc8414, settings)?;
    let mut url = &urls.rfc8414;
    let mut fetched = client.fetch(url).await;
    if matches!(&fetched, Err(FetchError::Status(status)) if status.as_u16() == 404) {
        url = &urls.openid;
        fetched = client.fetch(url).await;
    }
    let fail = |problem, source: Option<BoxError>| GuardBuildError::Metadata {
        issuer: issuer.to_owned(),
        url: url.to_string(),
        problem,
        source,
    };
    let body = match fetched {
        Ok(fetched) => fetched.body,
        Err(error) => {
            let (problem, source) = problem_of(error);
            return Err(fail(problem, source));
        }
    };
    let document: serde_json::Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|e| fail(MetadataProblem::NotJson, Some(e.into())))?;
    match document.get("issuer") {
        Some(Value::String(found)) if found == issuer => {}
        Some(Value::String(found)) => {
            let found = Some(found.clone());
            return Err(fail(MetadataProblem::IssuerMismatch { found }, None));
        }
        _ => return Err(fail(MetadataProblem::IssuerMismatch { found: None }, None)),
    }
    match document.get("jwks_uri") {
        Some(Value::String(jwks_uri)) => Ok(jwks_uri.clone()),
        _ => Err(fail(MetadataProblem::MissingJwksUri, None)),
    }
}

/// How a failed fetch is reported at build.
fn problem_of(error: FetchError) -> (MetadataProblem, Option<BoxError>) {
    match error {
        FetchError::Http(e) if e.is_timeout() => (MetadataProblem::Timeout, Some(e.into())),
        FetchError::Http(e) => (MetadataProblem::Unreachable, Some(e.into())),
        #[cfg(feature = "rustls")]
        FetchError::Transport(text) => (MetadataProblem::Unreachable, Some(text.into())),
        #[cfg(feature = "rustls")]
        FetchError::TimedOut => (MetadataProblem::Timeout, None),
        FetchError::Status(status) => (MetadataProblem::Status(status.as_u16()), None),
        FetchError::TooLarge => (MetadataProblem::TooLarge, None),
        FetchError::Json(e) => (MetadataProblem::NotJson, Some(e.into())),
        // Only a key set is read for keys; never met here.
        FetchError::NoUsableKey => (MetadataProblem::NotJson, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> (String, String) {
        let urls = well_known(&issuer.parse().unwrap());
        (urls.rfc8414.to_string(), urls.openid.to_string())
    }

    #[test]
    fn the_suffix_goes_between_host_and_path() {
        // The example of RFC 8414 section 3.1.
        assert_eq!(
            urls("https://example.com/issuer1"),
            (
                "https://example.com/.well-known/oauth-authorization-server/issuer1".to_owned(),
                "https://example.com/issuer1/.well-known/openid-configuration".to_owned()
            )
        );
        assert_eq!(
            urls("https://example.com/tenant/a/").0,
            "https://example.com/.well-known/oauth-authorization-server/tenant/a"
        );
        assert_eq!(
            urls("http://127.0.0.1:8808"),
            (
                "http://127.0.0.1:8808/.well-known/oauth-authorization-server".to_owned(),
                "http://127.0.0.1:8808/.well-known/openid-configuration".to_owned()
            )
        );
    }

    #[test]
    fn issuers_that_cannot_have_metadata_are_refused() {
        for bad in [
            "seedotech",
            "https://example.com/?tenant=a",
            "https://example.com/#a",
            "https://user@example.com",
            "ftp://example.com",
        ] {
            assert!(
                matches!(
                    metadata_urls(bad, true),
                    Err(GuardBuildError::InvalidIssuerUrl { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            metadata_urls("http://iam.internal", false),
            Err(GuardBuildError::InsecureHttp { .. })
        ));
    }
}

//! Authorization server metadata: RFC 8414 at `/.well-known/oauth-authorization-server`,
//! and the same document at `/.well-known/openid-configuration` (the part of `OpenID`
//! Connect Discovery 1.0 section 3 that applies to a server without an authorization
//! endpoint or ID tokens).
//!
//! RFC 8414 section 2 requires `issuer` to be an `https` URL without query or fragment,
//! identical to the `iss` of the tokens (section 3.3 tells clients to check that). So the
//! metadata is served only when the IAM's issuer is such a URL (`http` is accepted too,
//! for local and test set-ups); with an issuer that is a plain name, such as
//! `"seedotech"`, the metadata routes are not mounted (404) rather than publish an issuer
//! the tokens do not carry. The endpoint URLs are the issuer followed by the route paths,
//! so the issuer must be the public base URL where the router is reachable.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::store::GrantType;
use super::{INTROSPECTION_PATH, REVOCATION_PATH, TOKEN_PATH};
use crate::iam::Iam;
use crate::routes::JWKS_PATH;

/// The client authentication methods of every endpoint (RFC 6749 section 2.3.1).
const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The metadata document.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Metadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    grant_types_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// No authorization endpoint, so no response type (the field is required).
    response_types_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
}

/// Whether `issuer` can be an RFC 8414 issuer: an `https` (or `http`) URL with a host and
/// no query or fragment.
pub(crate) fn is_issuer_url(issuer: &str) -> bool {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split('/').next().unwrap_or_default();
        !host.is_empty() && !rest.contains(['?', '#']) && !rest.contains(char::is_whitespace)
    })
}

impl Metadata {
    /// The token endpoint's URL.
    #[cfg(feature = "openapi")]
    pub(crate) fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }

    /// The scopes listed.
    #[cfg(feature = "openapi")]
    pub(crate) fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The document for `issuer`, or `None` when the issuer is not a URL.
    pub(crate) fn for_issuer(issuer: &str, scopes: Vec<String>) -> Option<Arc<Self>> {
        if !is_issuer_url(issuer) {
            return None;
        }
        let base = issuer.trim_end_matches('/');
        Some(Arc::new(Self {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{base}{TOKEN_PATH}"),
            jwks_uri: format!("{base}{JWKS_PATH}"),
            revocation_endpoint: format!("{base}{REVOCATION_PATH}"),
            introspection_endpoint: format!("{base}{INTROSPECTION_PATH}"),
            grant_types_supported: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
            token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            introspection_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            response_types_supported: Vec::new(),
            scopes_supported: scopes,
        }))
    }
}

/// The authorization server metadata (RFC 8414 section 3.2).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "oauth2",
    responses(
        (status = 200, description = "The metadata (RFC 8414); served when the issuer is an http(s) URL", body = Metadata),
        (status = 404, description = "The issuer is not a URL, so no metadata is published")
    )
))]
pub(crate) async fn authorization_server(State(iam): State<Iam>) -> Response {
    serve(&iam)
}

/// The same metadata at the `OpenID` Connect Discovery location.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/.well-known/openid-configuration", tag = "oauth2",
    responses(
        (status = 200, description = "The metadata (the applicable subset of OpenID Connect Discovery)", body = Metadata),
        (status = 404, description = "The issuer is not a URL, so no metadata is published")
    )
))]
pub(crate) async fn openid_configuration(State(iam): State<Iam>) -> Response {
    serve(&iam)
}

fn serve(iam: &Iam) -> Response {
    match &iam.inner.oauth.metadata {
        Some(metadata) => {
            let mut response = Json(metadata.as_ref().clone()).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            response
        }
        None => http::StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_without_query_or_fragment_are_issuers() {
        for good in [
            "https://iam.example.com",
            "http://127.0.0.1:8080/",
            "https://a/b",
        ] {
            assert!(is_issuer_url(good), "{good}");
        }
        for bad in [
            "seedotech",
            "https://",
            "https://a?x=1",
            "https://a#f",
            "ftp://a",
        ] {
            assert!(!is_issuer_url(bad), "{bad}");
        }
    }

    #[test]
    fn endpoints_hang_off_the_issuer_and_the_issuer_is_kept_exactly() {
        let metadata = Metadata::for_issuer("https://iam.example.com/", vec![]).unwrap();
        assert_eq!(metadata.issuer, "https://iam.example.com/");
        assert_eq!(
            metadata.token_endpoint,
            "https://iam.example.com/oauth2/token"
        );
        assert_eq!(
            metadata.jwks_uri,
            "https://iam.example.com/.well-known/jwks.json"
        );
    }
}

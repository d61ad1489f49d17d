//! The OAuth 2.0 routes in the `OpenAPI` document, and the security schemes that let
//! Swagger UI's "Authorize" fetch a token from `/oauth2/token` itself.

use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};

use crate::oauth;

/// The name of the OAuth 2.0 security scheme (flows `clientCredentials` and `password`
/// against the token endpoint).
pub const OAUTH2_SCHEME: &str = "oauth2";

/// The name of the HTTP Basic scheme the OAuth endpoints authenticate clients with
/// (`client_secret_basic`).
pub const BASIC_SCHEME: &str = "basic";

/// The OAuth endpoints outside the base path.
#[derive(OpenApi)]
#[openapi(
    paths(oauth::token, oauth::revoke, oauth::introspect),
    tags((name = "oauth2", description = "OAuth 2.0: tokens (RFC 6749), revocation (RFC 7009), introspection (RFC 7662), metadata (RFC 8414) and client management"))
)]
pub(super) struct OAuthRootDoc;

/// The client-management routes, relative to the base path.
#[derive(OpenApi)]
#[openapi(paths(
    oauth::create_client,
    oauth::list_clients,
    oauth::disable_client,
    oauth::rotate_secret
))]
pub(super) struct OAuthBaseDoc;

/// The metadata routes, documented only where they are served (an http(s) issuer).
#[derive(OpenApi)]
#[openapi(paths(oauth::authorization_server, oauth::openid_configuration))]
pub(super) struct MetadataDoc;

/// What the OAuth part of the document depends on.
#[derive(Debug, Clone)]
pub(super) struct OAuthDocSettings {
    /// The `tokenUrl` of the flows: the metadata's token endpoint, or the route's path.
    pub(super) token_url: String,
    /// The scopes Swagger UI offers to ask for.
    pub(super) scopes: Vec<String>,
    /// Whether the metadata routes are served.
    pub(super) metadata: bool,
}

impl OAuthDocSettings {
    pub(super) const DEFAULT: fn() -> Self = || Self {
        token_url: oauth::TOKEN_PATH.to_owned(),
        scopes: Vec::new(),
        metadata: false,
    };
}

/// Adds the client-management routes to `base` (before it is nested) and their failures.
pub(super) fn add_base_routes(base: &mut OpenApiDoc) {
    const STORE: (&str, &str) = ("503", "The store is unavailable");
    const TIMEOUT: (&str, &str) = ("504", "The request took longer than the service's timeout");
    const INVALID_JSON: (&str, &str) = ("422", "Well-formed JSON of the wrong shape");
    const TOO_LARGE: (&str, &str) = ("413", "The body is larger than the service's body limit");
    const NOT_JSON: (&str, &str) = ("415", "Not JSON");
    base.merge(OAuthBaseDoc::openapi());
    super::add_errors(
        super::operation(base, "/oauth/clients", "post"),
        &[TOO_LARGE, NOT_JSON, INVALID_JSON, STORE, TIMEOUT],
    );
    for (path, method) in [
        ("/oauth/clients", "get"),
        ("/oauth/clients/{id}/disable", "post"),
        ("/oauth/clients/{id}/secret", "post"),
    ] {
        super::add_errors(super::operation(base, path, method), &[STORE, TIMEOUT]);
    }
}

/// Adds the OAuth endpoints (and the metadata, if served) and the `basic` and `oauth2`
/// security schemes to the finished document.
pub(super) fn add_root_routes(doc: &mut OpenApiDoc, settings: &OAuthDocSettings) {
    doc.merge(OAuthRootDoc::openapi());
    if settings.metadata {
        doc.merge(MetadataDoc::openapi());
    }
    let scopes = || {
        settings
            .scopes
            .iter()
            .map(|s| (s.clone(), format!("the scope {s}")))
            .collect::<Scopes>()
    };
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        OAUTH2_SCHEME,
        SecurityScheme::OAuth2(OAuth2::with_description(
            [
                Flow::ClientCredentials(ClientCredentials::new(&settings.token_url, scopes())),
                Flow::Password(Password::new(&settings.token_url, scopes())),
            ],
            "An access token from the token endpoint (RFC 6749): client credentials, or a \
             user's name and password through a registered client.",
        )),
    );
    components.add_security_scheme(
        BASIC_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "A registered client's id and secret (client_secret_basic, RFC 6749 \
                     section 2.3.1)."
                        .to_owned(),
                ))
                .build(),
        ),
    );
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::openapi::ApiDoc;

    #[test]
    fn swagger_ui_can_fetch_a_token_from_the_token_endpoint() {
        let doc: Value = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let scheme = &doc["components"]["securitySchemes"][OAUTH2_SCHEME];
        assert_eq!(scheme["type"], "oauth2");
        for flow in ["clientCredentials", "password"] {
            assert_eq!(scheme["flows"][flow]["tokenUrl"], "/oauth2/token", "{flow}");
        }
        let basic = &doc["components"]["securitySchemes"][BASIC_SCHEME];
        assert_eq!(basic["scheme"], "basic");
        let token = &doc["paths"]["/oauth2/token"]["post"];
        assert!(token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
        // Not served for the default issuer (not a URL), so not documented.
        assert!(doc["paths"]["/.well-known/oauth-authorization-server"].is_null());
    }
}

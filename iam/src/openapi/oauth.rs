//! The OAuth 2.0 routes in the `OpenAPI` document, and the security schemes that let
//! Swagger UI's "Authorize" fetch a token from `/oauth2/token` itself.

use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{RefOr, Schema, Type};

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
    /// The longest access-token lifetime a client may have (the IAM's token lifetime),
    /// in seconds.
    pub(super) max_access_token_ttl: u64,
    /// The `tokenUrl` of the flows: the metadata's token endpoint, or the route's path.
    pub(super) token_url: String,
    /// The scopes Swagger UI offers to ask for.
    pub(super) scopes: Vec<String>,
    /// Whether the metadata routes are served.
    pub(super) metadata: bool,
}

impl OAuthDocSettings {
    pub(super) const DEFAULT: fn() -> Self = || Self {
        max_access_token_ttl: 3600,
        token_url: oauth::TOKEN_PATH.to_owned(),
        scopes: Vec::new(),
        metadata: false,
    };
}

/// A client id as `is_valid_client_id` accepts it.
const CLIENT_ID_PATTERN: &str = "^[A-Za-z0-9._~-]{1,64}$";

/// A scope token as `is_scope_token` accepts it (RFC 6749 section 3.3).
const SCOPE_TOKEN_PATTERN: &str = r"^[\x21\x23-\x5b\x5d-\x7e]+$";

/// What RFC 6749 asks of every form body, said once on each of them.
const FORM_RULES: &str = "Each parameter appears at most once (RFC 6749 section 3.1: \
    \"Request and response parameters MUST NOT be included more than once\"); a repeated \
    one is `invalid_request` (400), whatever its name. Unknown parameters are ignored \
    (section 3.1). A parameter sent with an empty value counts as omitted. The client authenticates with exactly one method (RFC 6749 section 2.3: it \
    \"MUST NOT use more than one authentication method in each request\"): \
    `Authorization: Basic` (client_secret_basic) or `client_id` and `client_secret` in \
    this form (client_secret_post). Both at once is `invalid_request` (400); none, or \
    another `Authorization` scheme, is `invalid_client` (401).";

/// Adds the client-management routes to `base` (before it is nested) and their failures.
pub(super) fn add_base_routes(base: &mut OpenApiDoc, settings: &OAuthDocSettings) {
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
    document_new_client(base, settings.max_access_token_ttl);
}

/// What `register_client` checks, on `NewOAuthClient`.
fn document_new_client(base: &mut OpenApiDoc, max_ttl: u64) {
    let schemas = &mut base.components.get_or_insert_with(Default::default).schemas;
    let client = super::object(schemas, "NewOAuthClient");
    super::property(client, "clientId").pattern = Some(CLIENT_ID_PATTERN.to_owned());
    super::property(client, "name").pattern = Some(super::name_pattern());
    super::array_items(client, "scopes").pattern = Some(SCOPE_TOKEN_PATTERN.to_owned());
    let grant_types = super::array(client, "grantTypes");
    grant_types.min_items = Some(1);
    grant_types.description = Some(
        "The grant types it may use; at least one (a repeated one counts once). Default \
         `[\"client_credentials\"]`."
            .to_owned(),
    );
    let ttl = super::property(client, "accessTokenTtl");
    ttl.minimum = Some(1.into());
    ttl.maximum = Some(max_ttl.into());
    ttl.description = Some(format!(
        "Its access-token lifetime in seconds, 1 to {max_ttl} (the IAM's token lifetime); \
         default the IAM's OAuth access-token lifetime."
    ));
}

/// The form bodies' rules (see [`FORM_RULES`]) and their refusals.
fn document_forms(doc: &mut OpenApiDoc) {
    for path in [
        oauth::TOKEN_PATH,
        oauth::REVOCATION_PATH,
        oauth::INTROSPECTION_PATH,
    ] {
        let operation = super::operation(doc, path, "post");
        if let Some(body) = operation.request_body.as_mut() {
            body.description = Some(FORM_RULES.to_owned());
        }
    }
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    for name in ["TokenRequest", "TokenParameter"] {
        let form = super::object(schemas, name);
        super::property(form, "client_id").pattern = Some(CLIENT_ID_PATTERN.to_owned());
        // Unknown parameters are ignored (RFC 6749 section 3.1), but each is one string
        // too: a repeated one is refused like any other.
        form.additional_properties = Some(Box::new(AdditionalProperties::RefOr(RefOr::T(
            Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()),
        ))));
    }
}

/// Adds the OAuth endpoints (and the metadata, if served) and the `basic` and `oauth2`
/// security schemes to the finished document.
pub(super) fn add_root_routes(doc: &mut OpenApiDoc, settings: &OAuthDocSettings) {
    doc.merge(OAuthRootDoc::openapi());
    if settings.metadata {
        doc.merge(MetadataDoc::openapi());
    }
    document_forms(doc);
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

    #[test]
    fn a_new_client_carries_the_rules_register_client_checks() {
        let doc: Value = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let client = &doc["components"]["schemas"]["NewOAuthClient"]["properties"];
        assert_eq!(client["clientId"]["pattern"], CLIENT_ID_PATTERN);
        assert_eq!(client["name"]["pattern"], crate::openapi::name_pattern());
        assert_eq!(client["scopes"]["items"]["pattern"], SCOPE_TOKEN_PATTERN);
        assert_eq!(client["grantTypes"]["minItems"], 1);
        assert_eq!(client["accessTokenTtl"]["minimum"], 1);
        assert_eq!(client["accessTokenTtl"]["maximum"], 3600);
    }

    #[test]
    fn forms_say_one_authentication_method_and_no_repeated_parameter() {
        let doc: Value = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for path in ["/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"] {
            let body = &doc["paths"][path]["post"]["requestBody"];
            let description = body["description"].as_str().unwrap();
            assert!(
                description.contains("MUST NOT be included more than once"),
                "{path}"
            );
            assert!(
                description.contains("MUST NOT use more than one authentication"),
                "{path}"
            );
            assert!(
                doc["paths"][path]["post"]["responses"]["400"].is_object(),
                "{path}"
            );
        }
        for form in ["TokenRequest", "TokenParameter"] {
            let schema = &doc["components"]["schemas"][form];
            assert_eq!(schema["additionalProperties"]["type"], "string", "{form}");
            assert_eq!(
                schema["properties"]["client_id"]["pattern"],
                CLIENT_ID_PATTERN
            );
        }
    }

    #[test]
    fn the_patterns_match_what_the_handlers_accept() {
        use crate::oauth::{client_auth::is_valid_client_id, scope::is_scope_token};
        // The patterns are character classes over ASCII: check every byte against them.
        for b in 0u8..=127 {
            let one = char::from(b).to_string();
            let id_class = b.is_ascii_alphanumeric() || b".-_~".contains(&b);
            assert_eq!(is_valid_client_id(&one), id_class, "{b:#x}");
            let scope_class = b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
            assert_eq!(is_scope_token(&one), scope_class, "{b:#x}");
        }
        assert!(is_valid_client_id(&"a".repeat(64)) && !is_valid_client_id(&"a".repeat(65)));
    }
}

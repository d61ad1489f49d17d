//! The `OpenAPI` document of [`Iam::router`], generated with utoipa from the route
//! handlers themselves (feature `openapi`).
//!
//! [`Iam::openapi`] describes the routes under the IAM's configured base path; [`ApiDoc`]
//! under the default `/api/v1`. The user routes declare the [`BEARER_SCHEME`] security
//! requirement and the document defines that scheme (HTTP bearer, JWT), so Swagger UI's
//! "Authorize" button works. Every failure is documented with the `ErrorBody` schema,
//! `{"code": <int>, "message": "<text>"}`. No schema has a password hash.
//!
//! The document tells what the routes really do, so that a client generated from it (or a
//! contract test such as schemathesis) is never refused a request the document allows:
//! every status a route can answer is listed (413 and 422 of the body extractors, 503 of
//! the store, 504 of the service's timeout, beside the handlers' own); user ids carry
//! their pattern; names, roles and passwords carry the handlers' rules (password lengths
//! from the IAM's [`PasswordPolicy`](crate::PasswordPolicy)); `role` and `roles` are
//! alternatives, never both; an update must name
//! something to change; `limit` and `offset` document the ranges the query accepts.
//!
//! Merge it into a service's own document:
//!
//! ```
//! use portcullis_iam::openapi::ApiDoc;
//! use utoipa::OpenApi;
//!
//! #[derive(OpenApi)]
//! #[openapi(info(title = "user_service"))]
//! struct ServiceDoc;
//!
//! let mut doc = ServiceDoc::openapi();
//! doc.merge(ApiDoc::openapi()); // or `iam.openapi()` for a custom base path
//! assert!(doc.paths.paths.contains_key("/api/v1/admin/auth"));
//! assert!(doc.paths.paths.contains_key("/.well-known/jwks.json"));
//! ```

use std::collections::BTreeMap;

use portcullis_response::{ErrorBody, Message};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, Array, ArrayItems, Object, ObjectBuilder, SchemaType,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Schema, Type};

use crate::iam::Iam;
use crate::password::Passwords;
use crate::routes;

mod oauth;

use oauth::OAuthDocSettings;
pub use oauth::{BASIC_SCHEME, OAUTH2_SCHEME};

/// The name of the security scheme the user routes require (an HTTP bearer JWT).
pub const BEARER_SCHEME: &str = "bearer";

/// The base path [`ApiDoc`] documents the routes under: the default of
/// [`IamBuilder::base_path`](crate::IamBuilder::base_path).
pub const DEFAULT_BASE_PATH: &str = "/api/v1";

/// The `OpenAPI` document of [`Iam::router`] with the default base path `/api/v1` and the
/// default [`PasswordPolicy`](crate::PasswordPolicy).
///
/// For an IAM built with another base path or password policy use [`Iam::openapi`].
#[derive(Debug, Clone, Copy)]
pub struct ApiDoc;

impl OpenApi for ApiDoc {
    fn openapi() -> OpenApiDoc {
        document(
            DEFAULT_BASE_PATH,
            PasswordLimits::DEFAULT,
            &(OAuthDocSettings::DEFAULT)(),
        )
    }
}

impl Iam {
    /// The `OpenAPI` document of [`Iam::router`]: the routes under this IAM's base path,
    /// their bodies, parameters and responses, and the bearer security scheme. Password
    /// lengths are this IAM's policy's.
    ///
    /// The OAuth routes are in it, with the `oauth2` security scheme (flows
    /// `clientCredentials` and `password` with this IAM's token endpoint) and the `basic`
    /// scheme of client authentication; the metadata routes only when they are served.
    pub fn openapi(&self) -> OpenApiDoc {
        let metadata = self.inner.oauth.metadata.as_deref();
        let settings = OAuthDocSettings {
            token_url: metadata.map_or_else(
                || crate::TOKEN_PATH.to_owned(),
                |m| m.token_endpoint().to_owned(),
            ),
            scopes: metadata
                .map(|m| m.scopes_supported().to_vec())
                .unwrap_or_default(),
            metadata: metadata.is_some(),
            max_access_token_ttl: self.inner.tokens.ttl.as_secs(),
        };
        document(
            &self.inner.base_path,
            PasswordLimits::of(self.passwords()),
            &settings,
        )
    }
}

/// The routes outside the base path.
#[derive(OpenApi)]
#[openapi(
    paths(routes::jwks),
    components(schemas(ErrorBody, Message)),
    tags(
        (name = "auth", description = "Login and the public signing keys"),
        (name = "users", description = "User management (role admin)")
    )
)]
struct RootDoc;

/// The routes under the base path, with paths relative to it (the router's too).
#[derive(OpenApi)]
#[openapi(paths(
    routes::login,
    routes::create_user,
    routes::list_users,
    routes::get_user,
    routes::get_user_by_query,
    routes::update_user,
    routes::delete_user
))]
struct BaseDoc;

fn document(base_path: &str, passwords: PasswordLimits, oauth: &OAuthDocSettings) -> OpenApiDoc {
    let mut base = BaseDoc::openapi();
    oauth::add_base_routes(&mut base, oauth);
    document_errors(&mut base);
    document_parameters(&mut base);
    document_bodies(&mut base, passwords);
    let mut doc = RootDoc::openapi().nest(base_path, base);
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(format!("A token from POST {base_path}/admin/auth.")))
                    .build(),
            ),
        );
    oauth::add_root_routes(&mut doc, oauth);
    doc
}

// What the handlers check beyond the Rust types the handlers' annotations derive the
// document from. Each pattern is the exact rule of the handler it names, so that a client
// (or a contract test) that follows the document is never refused with 400 or 422, and one
// that does not is.

/// A user id: `store::id` accepts 24 hexadecimal digits, either case.
const ID_PATTERN: &str = "^[0-9a-fA-F]{24}$";

/// `char::is_whitespace` (what `str::trim` removes), as a regex class body.
const WHITESPACE: &str =
    r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// `char::is_control` (Unicode `Cc`), as a regex class body.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// The whitespace that is not a control character (`\t`, `\n`, `\r`, U+0085 and their
/// kin are both), as a regex class body.
const PRINTABLE_WHITESPACE: &str = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A user name as `validate_name` accepts it: no control character anywhere (checked
/// before trimming), and after trimming whitespace, 1 to 64 characters.
fn name_pattern() -> String {
    format!(
        "^[{PRINTABLE_WHITESPACE}]*[^{WHITESPACE}{CONTROL}](?:[^{CONTROL}]{{0,62}}[^{WHITESPACE}{CONTROL}])?[{PRINTABLE_WHITESPACE}]*$"
    )
}

/// A login name as `login` accepts it before looking it up: no control character.
fn login_name_pattern() -> String {
    format!("^[^{CONTROL}]+$")
}

/// A role as `validate_roles` accepts it: after trimming, 1 to 64 characters, neither
/// whitespace nor control.
fn role_pattern() -> String {
    format!("^[{WHITESPACE}]*[^{WHITESPACE}{CONTROL}]{{1,64}}[{WHITESPACE}]*$")
}

/// The seed's single `role`: empty (no role) or a role.
fn single_role_pattern() -> String {
    format!("^(?:[{WHITESPACE}]*[^{WHITESPACE}{CONTROL}]{{1,64}}[{WHITESPACE}]*)?$")
}

/// The password lengths the policy accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PasswordLimits {
    /// Fewest characters.
    min_chars: usize,
    /// Most bytes of UTF-8.
    max_bytes: usize,
}

impl PasswordLimits {
    /// [`PasswordPolicy::default`](crate::PasswordPolicy)'s.
    const DEFAULT: Self = Self {
        min_chars: 8,
        max_bytes: 1024,
    };

    fn of(passwords: &Passwords) -> Self {
        let max_bytes = passwords.max_password_bytes();
        // The policy keeps its minimum private: the shortest password `check` accepts.
        // A create or update also refuses an empty password.
        let min_chars = (1..=max_bytes)
            .find(|&n| passwords.check("", &"p".repeat(n)).is_ok())
            .unwrap_or(max_bytes);
        Self {
            min_chars,
            max_bytes,
        }
    }
}

/// Statuses every route under the base path can answer beyond those its handler
/// documents: the service layers' and the store's.
fn document_errors(doc: &mut OpenApiDoc) {
    const STORE: (&str, &str) = ("503", "The user store is unavailable");
    const TIMEOUT: (&str, &str) = ("504", "The request took longer than the service's timeout");
    const TOO_LARGE: (&str, &str) = ("413", "The body is larger than the service's body limit");
    const INVALID_JSON: (&str, &str) = (
        "422",
        "Well-formed JSON of the wrong shape: not an object, a required field missing, or a field of the wrong type",
    );
    let login_invalid = (
        "422",
        "A form without user or password, or JSON of the wrong shape (not an object, a field missing or of the wrong type)",
    );
    add_errors(
        operation(doc, "/admin/auth", "post"),
        &[TOO_LARGE, login_invalid, TIMEOUT],
    );
    for (path, method) in [("/users", "post"), ("/users", "patch")] {
        add_errors(
            operation(doc, path, method),
            &[INVALID_JSON, STORE, TIMEOUT],
        );
    }
    for (path, method) in [
        ("/users", "get"),
        ("/users/list", "get"),
        ("/users/detail/{id}", "get"),
        ("/users/{id}", "delete"),
    ] {
        add_errors(operation(doc, path, method), &[STORE, TIMEOUT]);
    }
}

/// Ids carry their pattern; `limit` and `offset` their real ranges.
fn document_parameters(doc: &mut OpenApiDoc) {
    for (path, method, name) in [
        ("/users", "get", "id"),
        ("/users/detail/{id}", "get", "id"),
        ("/users/{id}", "delete", "id"),
        ("/users/list", "get", "after"),
    ] {
        parameter(operation(doc, path, method), name).pattern = Some(ID_PATTERN.to_owned());
    }
    let list = operation(doc, "/users/list", "get");
    let limit = parameter(list, "limit");
    // Any u32 is accepted; more than 1000 is read as 1000.
    limit.format = None;
    limit.maximum = Some(utoipa::Number::UInt(u32::MAX as usize));
    let offset = parameter(list, "offset");
    offset.format = None;
    offset.maximum = Some(utoipa::Number::UInt(
        usize::try_from(u64::MAX).unwrap_or(usize::MAX),
    ));
    for param in list.parameters.iter_mut().flatten() {
        if param.name == "limit" {
            param.description = Some(
                "At most this many users. Default 100; a value above 1000 is read as 1000."
                    .to_owned(),
            );
        }
    }
}

/// Required strings are non-empty; names, roles and passwords carry their rules; an
/// update names something to change.
fn document_bodies(doc: &mut OpenApiDoc, passwords: PasswordLimits) {
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    let credentials = object(schemas, "Credentials");
    property(credentials, "user").min_length = Some(1);
    property(credentials, "user").pattern = Some(login_name_pattern());
    property(credentials, "password").min_length = Some(1);

    for name in ["NewUser", "UserPatch"] {
        let user = object(schemas, name);
        property(user, "name").pattern = Some(name_pattern());
        let password = property(user, "password");
        password.min_length = Some(passwords.min_chars);
        password.max_length = Some(passwords.max_bytes);
        password.description = Some(format!(
            "{} At least {} characters, at most {} bytes of UTF-8, not the user name.",
            password.description.as_deref().unwrap_or_default(),
            passwords.min_chars,
            passwords.max_bytes
        ));
        property(user, "role").pattern = Some(single_role_pattern());
        role_items(user).pattern = Some(role_pattern());
        // `role` and `roles` are alternatives: a body with both is refused. utoipa has no
        // `not`; the schema's extension map is flattened into it, so it carries the keyword.
        user.extensions.get_or_insert_with(Default::default).insert(
            "not".to_owned(),
            serde_json::json!({ "required": ["role", "roles"] }),
        );
    }
    property(object(schemas, "UserPatch"), "id").pattern = Some(ID_PATTERN.to_owned());

    // An update with nothing to change is refused: at least one field that is not null.
    let Some(RefOr::T(patch)) = schemas.remove("UserPatch") else {
        unreachable!("UserPatch is an inline schema");
    };
    let mut changes = AnyOfBuilder::new();
    for (field, ty) in [
        ("name", Type::String),
        ("password", Type::String),
        ("roles", Type::Array),
        ("role", Type::String),
    ] {
        changes = changes.item(
            ObjectBuilder::new()
                .property(field, ObjectBuilder::new().schema_type(ty))
                .required(field),
        );
    }
    let description = match &patch {
        Schema::Object(o) => o.description.clone(),
        _ => None,
    };
    schemas.insert(
        "UserPatch".to_owned(),
        AllOfBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .description(description)
            .item(patch)
            .item(changes)
            .into(),
    );
}

fn operation<'a>(doc: &'a mut OpenApiDoc, path: &str, method: &str) -> &'a mut Operation {
    let item = doc
        .paths
        .paths
        .get_mut(path)
        .unwrap_or_else(|| panic!("{path} is documented"));
    let operation = match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    };
    operation.unwrap_or_else(|| panic!("{method} {path} is documented"))
}

fn add_errors(operation: &mut Operation, errors: &[(&str, &str)]) {
    for (status, description) in errors {
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(*description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}

fn parameter<'a>(operation: &'a mut Operation, name: &str) -> &'a mut Object {
    let param = operation
        .parameters
        .iter_mut()
        .flatten()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("parameter {name} is documented"));
    match param.schema.as_mut() {
        Some(RefOr::T(Schema::Object(schema))) => schema,
        _ => panic!("parameter {name} has an inline schema"),
    }
}

fn object<'a>(schemas: &'a mut BTreeMap<String, RefOr<Schema>>, name: &str) -> &'a mut Object {
    match schemas.get_mut(name) {
        Some(RefOr::T(Schema::Object(schema))) => schema,
        _ => panic!("{name} is an inline object schema"),
    }
}

fn property<'a>(schema: &'a mut Object, name: &str) -> &'a mut Object {
    match schema.properties.get_mut(name) {
        Some(RefOr::T(Schema::Object(property))) => property,
        _ => panic!("property {name} is an inline schema"),
    }
}

fn role_items(schema: &mut Object) -> &mut Object {
    array_items(schema, "roles")
}

fn array<'a>(schema: &'a mut Object, name: &str) -> &'a mut Array {
    match schema.properties.get_mut(name) {
        Some(RefOr::T(Schema::Array(array))) => array,
        _ => panic!("{name} is an inline array"),
    }
}

fn array_items<'a>(schema: &'a mut Object, name: &str) -> &'a mut Object {
    match &mut array(schema, name).items {
        ArrayItems::RefOrSchema(items) => match items.as_mut() {
            RefOr::T(Schema::Object(items)) => items,
            _ => panic!("{name}'s items are inline"),
        },
        ArrayItems::False => panic!("{name} has items"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use http::{Method, Request, StatusCode};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::{AdminBootstrap, MemoryUserStore, PasswordPolicy, SigningKey};

    /// Every route of [`Iam::router`], relative to the base path unless absolute.
    const ROUTES: &[(&str, &str)] = &[
        ("post", "{base}/admin/auth"),
        ("post", "{base}/users"),
        ("get", "{base}/users"),
        ("patch", "{base}/users"),
        ("get", "{base}/users/list"),
        ("get", "{base}/users/detail/{id}"),
        ("delete", "{base}/users/{id}"),
        ("get", "/.well-known/jwks.json"),
        ("post", "/oauth2/token"),
        ("post", "/oauth2/revoke"),
        ("post", "/oauth2/introspect"),
        ("post", "{base}/oauth/clients"),
        ("get", "{base}/oauth/clients"),
        ("post", "{base}/oauth/clients/{id}/disable"),
        ("post", "{base}/oauth/clients/{id}/secret"),
    ];

    async fn iam(base_path: Option<&str>) -> Iam {
        let mut builder = Iam::builder()
            .store(MemoryUserStore::new())
            .signing_key(SigningKey::generate_ed25519())
            .password_policy(PasswordPolicy::insecure_fast_for_tests())
            .admin_bootstrap(AdminBootstrap::Disabled);
        if let Some(base_path) = base_path {
            builder = builder.base_path(base_path);
        }
        builder.build().await.expect("build the IAM")
    }

    fn json(doc: &OpenApiDoc) -> Value {
        serde_json::to_value(doc).expect("the document serializes")
    }

    /// (method, path) of every operation the document lists.
    fn documented(doc: &Value) -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, _) in item.as_object().expect("a path item") {
                routes.insert((method.clone(), path.clone()));
            }
        }
        routes
    }

    fn expected(base: &str) -> BTreeSet<(String, String)> {
        ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), p.replace("{base}", base)))
            .collect()
    }

    /// Asserts that the router serves every operation of `doc`: neither the router's 404
    /// for an unknown path nor its 405 for an unrouted method.
    async fn assert_routed(iam: &Iam, doc: &Value) {
        for (method, path) in documented(doc) {
            let uri = path.replace("{id}", "ffffffffffffffffffffffff");
            let request = Request::builder()
                .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let response = iam.router().oneshot(request).await.unwrap();
            // Without a token the user routes answer 401 before any handler's 404.
            assert!(
                !matches!(
                    response.status(),
                    StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
                ),
                "{method} {path} is documented but answers {}",
                response.status()
            );
        }
    }

    #[tokio::test]
    async fn the_document_lists_exactly_the_routers_routes() {
        let iam = iam(None).await;
        let doc = json(&iam.openapi());
        assert_eq!(documented(&doc), expected("/api/v1"));
        assert_routed(&iam, &doc).await;
        assert_eq!(doc, json(&ApiDoc::openapi()), "ApiDoc is the default's");
    }

    #[tokio::test]
    async fn a_custom_base_path_moves_the_documented_routes_but_not_the_jwks() {
        let iam = iam(Some("/iam/")).await;
        let doc = json(&iam.openapi());
        assert_eq!(documented(&doc), expected("/iam"));
        assert_routed(&iam, &doc).await;
        let scheme = &doc["components"]["securitySchemes"][BEARER_SCHEME];
        assert_eq!(scheme["description"], "A token from POST /iam/admin/auth.");
    }

    #[test]
    fn user_routes_require_the_bearer_scheme_and_login_and_jwks_do_not() {
        let doc = json(&ApiDoc::openapi());
        let scheme = &doc["components"]["securitySchemes"][BEARER_SCHEME];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        for (method, path) in documented(&doc) {
            let security = &doc["paths"][&path][&method]["security"];
            let bearer = security
                .as_array()
                .is_some_and(|list| list.iter().any(|s| s.get(BEARER_SCHEME).is_some()));
            let public = path.ends_with("/admin/auth")
                || path == crate::JWKS_PATH
                || path.starts_with("/oauth2/");
            assert_eq!(bearer, !public, "{method} {path}: security {security}");
        }
    }

    #[test]
    fn failures_are_documented_with_the_error_model() {
        let doc = json(&ApiDoc::openapi());
        let error = &doc["components"]["schemas"]["ErrorBody"];
        assert_eq!(error["required"], serde_json::json!(["code", "message"]));
        for (method, path) in documented(&doc) {
            let responses = doc["paths"][&path][&method]["responses"]
                .as_object()
                .expect("responses");
            // The OAuth endpoints answer RFC 6749 section 5.2 errors instead.
            let model = if path.starts_with("/oauth2/") {
                "#/components/schemas/OAuthErrorBody"
            } else {
                "#/components/schemas/ErrorBody"
            };
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"], model,
                        "{method} {path} {status}"
                    );
                }
            }
            if path.contains("/users") {
                assert!(responses.contains_key("401"), "{method} {path}");
                assert!(responses.contains_key("403"), "{method} {path}");
            }
        }
    }

    #[test]
    fn login_takes_a_form_or_json_and_answers_a_token() {
        let doc = json(&ApiDoc::openapi());
        let login = &doc["paths"]["/api/v1/admin/auth"]["post"];
        let content = &login["requestBody"]["content"];
        for content_type in ["application/x-www-form-urlencoded", "application/json"] {
            assert_eq!(
                content[content_type]["schema"]["$ref"], "#/components/schemas/Credentials",
                "{content_type}"
            );
        }
        let credentials = &doc["components"]["schemas"]["Credentials"];
        assert_eq!(
            credentials["required"],
            serde_json::json!(["user", "password"])
        );
        assert_eq!(
            login["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Token"
        );
        let token = &doc["components"]["schemas"]["Token"]["properties"];
        let fields: BTreeSet<_> = token.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            fields,
            ["expiresIn", "token", "tokenType"].map(String::from).into()
        );
    }

    /// The property names of `schema` and of the parts of its `allOf`, recursively.
    fn property_names(schema: &Value) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| name.clone())
            .collect();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            names.extend(property_names(part));
        }
        names
    }

    #[test]
    fn no_schema_has_a_password_hash_and_no_response_a_password() {
        let doc = json(&ApiDoc::openapi());
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas {
            for field in property_names(schema) {
                assert!(
                    !field.to_lowercase().contains("hash"),
                    "{name}.{field} looks like a hash"
                );
            }
        }
        assert_eq!(
            property_names(&schemas["User"]),
            ["id", "name", "role", "roles"].map(String::from).into()
        );
        // Only request bodies may name a password.
        let with_password: BTreeSet<&str> = schemas
            .iter()
            .filter(|(_, schema)| property_names(schema).contains("password"))
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            with_password,
            ["Credentials", "NewUser", "TokenRequest", "UserPatch"].into()
        );
    }

    /// The schema of the parameter `name` of `method path`.
    fn parameter_schema<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
        let parameters = doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has parameters"));
        let parameter = parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has the parameter {name}"));
        &parameter["schema"]
    }

    #[test]
    fn every_user_id_carries_the_id_pattern() {
        let doc = json(&ApiDoc::openapi());
        for (path, method, name) in [
            ("/api/v1/users", "get", "id"),
            ("/api/v1/users/detail/{id}", "get", "id"),
            ("/api/v1/users/{id}", "delete", "id"),
            ("/api/v1/users/list", "get", "after"),
        ] {
            assert_eq!(
                parameter_schema(&doc, path, method, name)["pattern"],
                ID_PATTERN,
                "{method} {path} {name}"
            );
        }
        let patch = &doc["components"]["schemas"]["UserPatch"]["allOf"][0];
        assert_eq!(patch["properties"]["id"]["pattern"], ID_PATTERN);
        assert_eq!(patch["required"], serde_json::json!(["id"]));
    }

    #[test]
    fn list_limits_are_the_accepted_ranges_and_the_cap_is_described() {
        let doc = json(&ApiDoc::openapi());
        let limit = parameter_schema(&doc, "/api/v1/users/list", "get", "limit");
        assert_eq!(limit["maximum"], u64::from(u32::MAX));
        assert!(
            limit.get("format").is_none(),
            "int32 would claim a lower maximum"
        );
        let offset = parameter_schema(&doc, "/api/v1/users/list", "get", "offset");
        assert_eq!(offset["maximum"], u64::MAX);
        let parameters = doc["paths"]["/api/v1/users/list"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let limit = parameters.iter().find(|p| p["name"] == "limit").unwrap();
        assert!(
            limit["description"]
                .as_str()
                .unwrap()
                .contains("above 1000 is read as 1000"),
            "{limit}"
        );
    }

    #[test]
    fn bodies_document_every_rejection_of_their_handlers() {
        let doc = json(&ApiDoc::openapi());
        for (path, method) in [
            ("/api/v1/admin/auth", "post"),
            ("/api/v1/users", "post"),
            ("/api/v1/users", "patch"),
        ] {
            let responses = &doc["paths"][path][method]["responses"];
            for status in ["400", "413", "415", "422", "503", "504"] {
                assert!(
                    responses.get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
        }
        let schemas = &doc["components"]["schemas"];
        for field in ["user", "password"] {
            assert_eq!(
                schemas["Credentials"]["properties"][field]["minLength"], 1,
                "{field}"
            );
        }
        let not_both = serde_json::json!({ "required": ["role", "roles"] });
        assert_eq!(schemas["NewUser"]["not"], not_both);
        assert_eq!(schemas["UserPatch"]["allOf"][0]["not"], not_both);
        let new_user = &schemas["NewUser"]["properties"];
        assert_eq!(new_user["name"]["pattern"], name_pattern());
        assert_eq!(new_user["roles"]["items"]["pattern"], role_pattern());
        assert_eq!(new_user["role"]["pattern"], single_role_pattern());
    }

    #[test]
    fn an_update_must_name_something_to_change() {
        let doc = json(&ApiDoc::openapi());
        let changes = doc["components"]["schemas"]["UserPatch"]["allOf"][1]["anyOf"]
            .as_array()
            .expect("UserPatch's second part is an anyOf");
        let required: BTreeSet<&str> = changes
            .iter()
            .map(|c| c["required"][0].as_str().unwrap())
            .collect();
        assert_eq!(required, ["name", "password", "role", "roles"].into());
        for change in changes {
            let field = change["required"][0].as_str().unwrap();
            // Not nullable: a null field changes nothing.
            assert!(change["properties"][field]["type"].is_string(), "{change}");
        }
    }

    #[tokio::test]
    async fn password_lengths_follow_the_iams_policy() {
        let default = iam(None).await;
        assert_eq!(
            PasswordLimits::of(default.passwords()),
            PasswordLimits::DEFAULT,
            "ApiDoc's limits are the default policy's"
        );
        let iam = Iam::builder()
            .store(MemoryUserStore::new())
            .signing_key(SigningKey::generate_ed25519())
            .password_policy(
                PasswordPolicy::insecure_fast_for_tests()
                    .min_length(12)
                    .max_length(100),
            )
            .admin_bootstrap(AdminBootstrap::Disabled)
            .build()
            .await
            .expect("build the IAM");
        let doc = json(&iam.openapi());
        for schema in [
            &doc["components"]["schemas"]["NewUser"],
            &doc["components"]["schemas"]["UserPatch"]["allOf"][0],
        ] {
            let password = &schema["properties"]["password"];
            assert_eq!(password["minLength"], 12, "{password}");
            assert_eq!(password["maxLength"], 100, "{password}");
        }
    }

    #[test]
    fn the_name_and_role_patterns_are_anchored_and_bounded() {
        for pattern in [name_pattern(), role_pattern(), single_role_pattern()] {
            assert!(
                pattern.starts_with('^') && pattern.ends_with('$'),
                "{pattern}"
            );
        }
        assert!(
            name_pattern().contains("{0,62}"),
            "1 + 62 + 1 = 64 characters"
        );
        assert!(role_pattern().contains("{1,64}"));
    }
}

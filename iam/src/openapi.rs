//! The `OpenAPI` document of [`Iam::router`], generated with utoipa from the route
//! handlers themselves (feature `openapi`).
//!
//! [`Iam::openapi`] describes the routes under the IAM's configured base path; [`ApiDoc`]
//! under the default `/api/v1`. The user routes declare the [`BEARER_SCHEME`] security
//! requirement and the document defines that scheme (HTTP bearer, JWT), so Swagger UI's
//! "Authorize" button works. Every failure is documented with the `ErrorBody` schema,
//! `{"code": <int>, "message": "<text>"}`. No schema has a password hash.
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

use portcullis_response::{ErrorBody, Message};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::iam::Iam;
use crate::routes;

/// The name of the security scheme the user routes require (an HTTP bearer JWT).
pub const BEARER_SCHEME: &str = "bearer";

/// The base path [`ApiDoc`] documents the routes under: the default of
/// [`IamBuilder::base_path`](crate::IamBuilder::base_path).
pub const DEFAULT_BASE_PATH: &str = "/api/v1";

/// The `OpenAPI` document of [`Iam::router`] with the default base path `/api/v1`.
///
/// For an IAM built with another base path use [`Iam::openapi`].
#[derive(Debug, Clone, Copy)]
pub struct ApiDoc;

impl OpenApi for ApiDoc {
    fn openapi() -> OpenApiDoc {
        document(DEFAULT_BASE_PATH)
    }
}

impl Iam {
    /// The `OpenAPI` document of [`Iam::router`]: the routes under this IAM's base path,
    /// their bodies, parameters and responses, and the bearer security scheme.
    pub fn openapi(&self) -> OpenApiDoc {
        document(&self.inner.base_path)
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

fn document(base_path: &str) -> OpenApiDoc {
    let mut doc = RootDoc::openapi().nest(base_path, BaseDoc::openapi());
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
    doc
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
            let public = path.ends_with("/admin/auth") || path == crate::JWKS_PATH;
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
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
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

    #[test]
    fn no_schema_has_a_password_hash_and_no_response_a_password() {
        let doc = json(&ApiDoc::openapi());
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas {
            for field in schema["properties"].as_object().into_iter().flatten() {
                assert!(
                    !field.0.to_lowercase().contains("hash"),
                    "{name}.{} looks like a hash",
                    field.0
                );
            }
        }
        let user: BTreeSet<_> = schemas["User"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            user,
            ["id", "name", "role", "roles"].map(String::from).into()
        );
        // Only request bodies may name a password.
        let with_password: BTreeSet<&str> = schemas
            .iter()
            .filter(|(_, schema)| schema["properties"].get("password").is_some())
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            with_password,
            ["Credentials", "NewUser", "UserPatch"].into()
        );
    }
}

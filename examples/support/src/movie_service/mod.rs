//! The movie service's router: the original project's routes (movies and genres, one
//! generic [`resource`]), the login proxy, and their `OpenAPI` document.

pub mod login;
pub mod resource;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use portcullis_circuit_breaker::BalancedClient;
use portcullis_discovery::EtcdRegistry;
use portcullis_resource_guard::{Guard, GuardBuildError};
use portcullis_response::{ErrorBody, Message};
use utoipa::OpenApi;
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::OpenApiRouter;

use crate::breaker_view::BreakerView;
use crate::config::MovieServiceConfig;
use crate::mongo::{connect_mongodb, mongodb_target};
use crate::movies::{MemoryMovieStore, MongoMovieStore, Movie, MovieGenre, MovieStore};
use crate::openapi::{BearerSecurity, swagger};
use crate::registry::keys::RegistryKeys;
use crate::server::{ReadyCheck, finish_router};
use crate::tls::{self, ExtraRoots};
use login::LoginProxy;

/// How often the IAM's keys are fetched again when they come through the registry; the
/// IAM keeps a rotated-out key published for longer than this.
const REGISTRY_KEYS_REFRESH: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "movie_service",
        description = "The movie service on Portcullis: public listing, token-guarded writes, a login proxy behind a circuit breaker."
    ),
    modifiers(&BearerSecurity),
    components(schemas(ErrorBody, Message)),
    tags(
        (name = "movies", description = "Movies"),
        (name = "genres", description = "Movie genres"),
        (name = "auth", description = "Login, proxied to the IAM")
    )
)]
struct ApiDoc;

/// The IAM's rules for the login form, so that a form the document allows is never
/// refused with 400: both fields non-empty, no control character in the name, and no other
/// field (extra fields are ignored, but a multipart part with a malformed name, which
/// `additionalProperties` would allow, is a 400 before any field is read).
fn document_login_form(openapi: &mut utoipa::openapi::OpenApi) {
    let schemas = &mut openapi
        .components
        .get_or_insert_with(Default::default)
        .schemas;
    if let Some(RefOr::T(Schema::Object(form))) = schemas.get_mut("LoginForm") {
        form.additional_properties = Some(Box::new(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ));
        for (field, pattern) in [
            ("user", Some(r"^[^\x00-\x1f\x7f-\x9f]+$")),
            ("password", None),
        ] {
            if let Some(RefOr::T(Schema::Object(property))) = form.properties.get_mut(field) {
                property.min_length = Some(1);
                property.pattern = pattern.map(str::to_owned);
            }
        }
    }
}

/// Builds the whole service from `config`: store, token guard, login proxy, routes,
/// Swagger UI and the common layers. With a `registry`, the login proxy and the guard's
/// keys follow the IAM's instances there (`authServiceName`) instead of `authAddr`.
pub async fn build(
    config: &MovieServiceConfig,
    registry: Option<&EtcdRegistry>,
) -> Result<Router, Box<dyn Error + Send + Sync>> {
    // The metrics recorder first: breakers and the guard register their metrics when built.
    crate::metrics::prometheus();
    let store = open_store(config).await?;
    // HTTPS to the IAM: extra trusted roots, and no plain http:// off loopback unless
    // allowInsecureHttp.
    let roots = ExtraRoots::load(&config.common.tls_root_certificates)?;
    for addr in login::auth_addrs(&config.service.auth_addr) {
        tls::check_plain_http("authAddr", &addr, config.common.allow_insecure_http)?;
    }
    // One TLS setup for both: the guard fetches the JWKS with this client too (its own
    // default would read the system's CA store, which a scratch image has none of).
    let jwks_client = tls::http_client_builder(&roots)?
        .timeout(config.service.login_call_timeout())
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let iam_view = match registry {
        Some(registry) => {
            let name = &config.service.auth_service_name;
            tracing::info!(service = %name, "the IAM: its instances in the service registry");
            Some(registry.watch(name)?)
        }
        None => None,
    };
    let http = tls::http_client_builder(&roots)?.build()?;
    let iam = login::iam_client(&config.service, http, iam_view.as_ref())?;
    let keys_from_registry = iam_view.is_some().then(|| iam.clone());
    let guard = token_guard(config, jwks_client, keys_from_registry).await?;
    let breaker_view = config
        .service
        .breaker_view_enabled
        .then(|| BreakerView::new([iam.clone()]));
    let login = LoginProxy::new(iam);

    // Movies and genres are one generic resource; the login proxy is its own route. Each
    // part brings its OpenAPI operations, collected into one document.
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(resource::router::<Movie>(Arc::clone(&store)))
        .merge(resource::router::<MovieGenre>(Arc::clone(&store)))
        .merge(login::router(login))
        .split_for_parts();
    document_login_form(&mut openapi);

    // The guard checks any bearer token present and lets anonymous requests through;
    // handlers that need a user take `Claims`, so the rule sits beside the handler.
    let mut app = api.layer(guard.optional_layer()).merge(swagger(openapi));
    // With breakerViewEnabled, the login proxy's breakers as a live page (outside the token
    // guard: a browser's EventSource cannot send a bearer token). Its event streams end
    // at the shutdown signal, so that the graceful shutdown does not wait for viewers.
    if let Some(view) = breaker_view {
        tracing::warn!(
            "breakerViewEnabled: GET /breakers shows the IAM instances' addresses to every client"
        );
        view.close_on(crate::server::shutdown_signal());
        app = app.merge(view.router());
    }

    let ready: ReadyCheck = Arc::new(move || {
        let store = Arc::clone(&store);
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    crate::metrics::serve_on_own_port(&config.common).await?;
    Ok(finish_router(app, &config.common, ready))
}

/// `MongoDB` when `MONGODB_URI` or `mgAddrs` is set, else the in-memory store seeded with
/// a few movies. The choice is logged.
async fn open_store(
    config: &MovieServiceConfig,
) -> Result<Arc<dyn MovieStore>, mongodb::error::Error> {
    if config.common.uses_mongodb() {
        let db = connect_mongodb(&config.common, "movie_service").await?;
        tracing::info!(
            store = "mongodb",
            target = %mongodb_target(&config.common),
            database = db.name(),
            "movie store: MongoDB (collections movies, movieGenres)"
        );
        Ok(Arc::new(MongoMovieStore::new(db)))
    } else {
        tracing::info!(
            store = "memory",
            "movie store: in memory, seeded with 3 movies (set MONGODB_URI or mgAddrs for MongoDB)"
        );
        Ok(Arc::new(MemoryMovieStore::seeded()))
    }
}

/// The token guard: the IAM's public keys from `authAddr` + `/.well-known/jwks.json`
/// (fetched on first use and cached, so the IAM need not be up at start-up), or through
/// `iam_from_registry` from whichever IAM instance the registry lists, or the shared HS256
/// secret when `jwtSecretPassword` is set. An `https://` `authAddr` is fetched with
/// `jwks_client` (Mozilla's roots and `tlsRootCertificates`).
async fn token_guard(
    config: &MovieServiceConfig,
    jwks_client: reqwest::Client,
    iam_from_registry: Option<BalancedClient>,
) -> Result<Guard, GuardBuildError> {
    let mut builder = Guard::builder()
        .issuer(config.common.issuer.clone())
        .http_client(jwks_client);
    if config.common.allow_insecure_http {
        // Checked and warned about in `build`.
        builder = builder.allow_insecure_http();
    }
    if let Some(audience) = config.common.audience() {
        builder = builder.audience(audience);
    }
    if let Some(secret) = &config.common.jwt_secret_password {
        tracing::info!(
            "tokens: HS256 with the shared jwtSecretPassword (the original project's mode)"
        );
        builder = builder.hmac_secret(secret.expose());
    } else if let Some(iam) = iam_from_registry {
        tracing::info!(
            refresh = ?REGISTRY_KEYS_REFRESH,
            "tokens: EdDSA, verified with the keys of the IAM instances in the registry"
        );
        builder = builder.key_source(RegistryKeys::start(iam, REGISTRY_KEYS_REFRESH));
    } else {
        // With several IAM instances in `authAddr`, they share one signing key
        // (PORTCULLIS_SIGNING_KEY_FILE), so the first one's keys do.
        let first = login::auth_addrs(&config.service.auth_addr)
            .into_iter()
            .next()
            .unwrap_or_default();
        let jwks = format!("{first}/.well-known/jwks.json");
        tracing::info!(%jwks, "tokens: EdDSA, verified with the IAM's published keys");
        // A hung IAM delays start-up by at most this much; keys are then retried in
        // the background.
        builder = builder
            .jwks_url(jwks)
            .fetch_timeout(config.service.login_call_timeout());
    }
    builder.build().await
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use http::{Request, StatusCode, header};
    use portcullis_resource_guard::jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;
    use crate::config::Secret;

    const SECRET: &str = "a test secret that is at least 32 bytes long";

    /// The service in HS256 mode, so tests can mint tokens.
    async fn app() -> Router {
        let mut config = MovieServiceConfig::default();
        config.common.jwt_secret_password = Some(Secret::new(SECRET));
        config.common.instance_id = "movies-test".to_owned();
        build(&config, None).await.unwrap()
    }

    fn token(role: &str) -> String {
        token_with(role, "")
    }

    /// A token with `role` and the space-separated `scope`.
    fn token_with(role: &str, scope: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "sub": "5eed000000000000000000aa", "name": "tester", "role": role,
            "roles": [role], "scope": scope, "iss": "seedotech", "aud": "movies",
            "iat": now, "exp": now + 600,
        });
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    async fn call(
        app: &Router,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, http::HeaderMap, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, 1 << 20).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, json)
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn the_list_is_public_and_adding_needs_the_admin_role() {
        let app = app().await;
        let (status, headers, list) = call(&app, "GET", "/api/v1/movies/list", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-instance-id"], "movies-test");
        assert_eq!(names(&list).len(), 3);

        let movie = json!({"name": "Elephants Dream", "url": "https://orange.blender.org/"});
        let (status, headers, body) =
            call(&app, "POST", "/api/v1/movies", None, Some(movie.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body["code"], 1004);

        for (role, scope) in [("", ""), ("viewer", "movies:read")] {
            let user = token_with(role, scope);
            let (status, headers, body) = call(
                &app,
                "POST",
                "/api/v1/movies",
                Some(&user),
                Some(movie.clone()),
            )
            .await;
            assert_eq!(
                (status, &body["code"]),
                (StatusCode::FORBIDDEN, &json!(1007))
            );
            let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
            assert!(challenge.contains("scope=\"movies:write\""), "{challenge}");
        }
        let user = token("admin");
        let (status, _, added) =
            call(&app, "POST", "/api/v1/movies", Some(&user), Some(movie)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(added["name"], "Elephants Dream");
        let (_, _, list) = call(&app, "GET", "/api/v1/movies/list", None, None).await;
        assert!(names(&list).contains(&"Elephants Dream"));
        let path = format!("/api/v1/movies/{}", added["id"].as_str().unwrap());
        let (status, _, fetched) = call(&app, "GET", &path, None, None).await;
        assert_eq!((status, fetched), (StatusCode::OK, added));
    }

    #[tokio::test]
    async fn a_client_with_the_write_scope_may_add_change_and_delete() {
        let app = app().await;
        let client = token_with("", "movies:read movies:write");
        let (status, _, added) = call(
            &app,
            "POST",
            "/api/v1/genres",
            Some(&client),
            Some(json!({"name": "Western"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let path = format!("/api/v1/genres/{}", added["id"].as_str().unwrap());
        let patch = json!({"description": "Horses."});
        let (status, _, _) = call(&app, "PATCH", &path, Some(&client), Some(patch)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(&app, "DELETE", &path, Some(&client), None).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn lists_are_paged_with_the_total_in_a_header() {
        let app = app().await;
        let (status, headers, list) = call(
            &app,
            "GET",
            "/api/v1/movies/list?offset=1&limit=1",
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(names(&list), ["Sintel"]);
        assert_eq!(headers["x-total-count"], "3");
        let (_, headers, list) =
            call(&app, "GET", "/api/v1/genres/list?offset=5", None, None).await;
        assert_eq!(names(&list).len(), 0);
        assert_eq!(headers["x-total-count"], "2");
        for query in [
            "limit=0",
            "limit=1001",
            "limit=2147483648",
            "limit=-1",
            "limit=x",
            "offset=9223372036854775808",
            "offset=18446744073709551615",
            "offset=18446744073709551616",
            "offset=-1",
        ] {
            let (status, _, body) = call(
                &app,
                "GET",
                &format!("/api/v1/movies/list?{query}"),
                None,
                None,
            )
            .await;
            assert_eq!(
                (status, &body["code"]),
                (StatusCode::BAD_REQUEST, &json!(1015)),
                "{query}: {body}"
            );
        }
        let (status, _, _) = call(
            &app,
            "GET",
            "/api/v1/movies/list?offset=9223372036854775807&limit=1000",
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn changing_and_deleting_need_the_admin_role() {
        let app = app().await;
        let path = "/api/v1/movies/5eed00000000000000000001";
        let patch = json!({"description": "Patched."});
        let (status, _, body) =
            call(&app, "PATCH", path, Some(&token("")), Some(patch.clone())).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::FORBIDDEN, Some(1007))
        );
        let (status, _, _) = call(&app, "DELETE", path, Some(&token("viewer")), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let admin = token("admin");
        let (status, _, patched) = call(&app, "PATCH", path, Some(&admin), Some(patch)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(patched["description"], "Patched.");
        assert_eq!(patched["name"], "Big Buck Bunny");
        let (status, _, body) = call(&app, "DELETE", path, Some(&admin), None).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"message": "Successfully"}))
        );
        let (status, _, body) = call(&app, "DELETE", path, Some(&admin), None).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::NOT_FOUND, Some(1008))
        );
    }

    #[tokio::test]
    async fn bad_input_is_a_4xx_in_the_model_and_stores_nothing() {
        let app = app().await;
        let user = token("admin");
        let too_long = "x".repeat(401);
        for (body, code) in [
            (json!({"name": "", "url": "https://a.example/"}), 1001),
            (json!({"name": "A", "url": "not a url"}), 1001),
            (
                json!({"name": "A", "url": "https://a.example/", "description": too_long}),
                1001,
            ),
            (json!({"name": " ", "url": "https://a.example/"}), 1001),
            (json!({"name": "A", "url": "https://a.example/?q=1"}), 1001),
            (
                json!({"name": "A", "url": "https://a/", "coverImage": "x"}),
                1001,
            ),
            (json!({"name": 5, "url": "https://a.example/"}), 1001),
            (json!({"name": "A"}), 1001),
            (json!({}), 1001),
            (json!(["A", "https://a.example/"]), 1001),
        ] {
            let (status, _, reply) = call(
                &app,
                "POST",
                "/api/v1/movies",
                Some(&user),
                Some(body.clone()),
            )
            .await;
            assert!(status.is_client_error(), "{body}: {status}");
            assert_eq!(reply["code"], code, "{body}: {reply}");
        }
        // A patch must be an object too: serde would read an array as its fields.
        for body in [json!([]), json!(["Renamed"])] {
            let path = "/api/v1/movies/5eed00000000000000000001";
            let (status, _, reply) = call(&app, "PATCH", path, Some(&user), Some(body)).await;
            assert_eq!(
                (status, &reply["code"]),
                (StatusCode::UNPROCESSABLE_ENTITY, &json!(1001))
            );
        }
        for path in ["/api/v1/movies/42", "/api/v1/genres/not-an-id"] {
            let (status, _, reply) = call(&app, "GET", path, None, None).await;
            assert_eq!(
                (status, reply["code"].as_i64()),
                (StatusCode::BAD_REQUEST, Some(1015))
            );
        }
        let (status, _, _) = call(
            &app,
            "GET",
            "/api/v1/movies/5eed0000000000000000ffff",
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, _, list) = call(&app, "GET", "/api/v1/movies/list", None, None).await;
        assert_eq!(
            names(&list),
            ["Big Buck Bunny", "Sintel", "Tears of Steel"],
            "nothing changed"
        );
    }

    #[tokio::test]
    async fn genres_have_their_routes() {
        let app = app().await;
        let admin = token("admin");
        let (status, _, added) = call(
            &app,
            "POST",
            "/api/v1/genres",
            Some(&admin),
            Some(json!({"name": "Drama"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let path = format!("/api/v1/genres/{}", added["id"].as_str().unwrap());
        let (status, _, patched) = call(
            &app,
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"description": "Serious."})),
        )
        .await;
        assert_eq!(
            (status, &patched["description"]),
            (StatusCode::OK, &json!("Serious."))
        );
        let (_, _, list) = call(&app, "GET", "/api/v1/genres/list", None, None).await;
        assert_eq!(names(&list), ["Animation", "Science fiction", "Drama"]);
        let (status, _, _) = call(&app, "DELETE", &path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_documented_bodies_carry_the_handlers_rules() {
        let app = app().await;
        let (_, _, doc) = call(&app, "GET", "/api-docs/openapi.json", None, None).await;
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["NewMovie"]["required"], json!(["name", "url"]));
        assert_eq!(schemas["NewGenre"]["required"], json!(["name"]));
        for schema in ["NewMovie", "MoviePatch"] {
            let fields = &schemas[schema]["properties"];
            assert_eq!(
                fields["name"]["pattern"],
                *crate::movies::NAME_PATTERN,
                "{schema}"
            );
            assert_eq!(
                fields["url"]["pattern"],
                crate::movies::URL_PATTERN,
                "{schema}"
            );
            assert_eq!(
                fields["coverImage"]["pattern"],
                *crate::movies::OPTIONAL_URL_PATTERN
            );
            for field in ["name", "url", "coverImage", "description"] {
                assert_eq!(fields[field]["maxLength"], 400, "{schema}.{field}");
            }
        }
        let login = &schemas["LoginForm"]["properties"];
        assert_eq!(
            (&login["user"]["minLength"], &login["password"]["minLength"]),
            (&json!(1), &json!(1))
        );
        assert_eq!(login["user"]["pattern"], r"^[^\x00-\x1f\x7f-\x9f]+$");
        for schema in ["NewGenre", "GenrePatch"] {
            let fields = &schemas[schema]["properties"];
            assert_eq!(fields["name"]["pattern"], *crate::movies::NAME_PATTERN);
            assert_eq!(fields["description"]["maxLength"], 400);
        }
    }

    #[tokio::test]
    async fn probes_and_the_openapi_document_are_served() {
        let app = app().await;
        for path in ["/healthz", "/readyz"] {
            let (status, _, _) = call(&app, "GET", path, None, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
        let (status, _, doc) = call(&app, "GET", "/api-docs/openapi.json", None, None).await;
        assert_eq!(status, StatusCode::OK);
        for path in [
            "/api/v1/movies/list",
            "/api/v1/movies",
            "/api/v1/movies/{id}",
            "/api/v1/genres/list",
            "/api/v1/genres",
            "/api/v1/genres/{id}",
            "/api/v1/login",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["paths"]["/api/v1/movies/{id}"]["delete"]["security"].is_array());
    }

    #[tokio::test]
    async fn the_generic_resource_documents_each_resource_with_its_own_types() {
        let app = app().await;
        let (_, _, doc) = call(&app, "GET", "/api-docs/openapi.json", None, None).await;
        let json_schema = |operation: &Value, at: &str| {
            operation
                .pointer(at)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        for (plural, record, new, patch) in [
            ("movies", "Movie", "NewMovie", "MoviePatch"),
            ("genres", "MovieGenre", "NewGenre", "GenrePatch"),
        ] {
            let schema = |name: &str| format!("#/components/schemas/{name}");
            let add = &doc["paths"][format!("/api/v1/{plural}")]["post"];
            let by_id = &doc["paths"][format!("/api/v1/{plural}/{{id}}")];
            let list = &doc["paths"][format!("/api/v1/{plural}/list")]["get"];
            let body = "/requestBody/content/application~1json/schema/$ref";
            let ok = "/responses/200/content/application~1json/schema";
            assert_eq!(json_schema(add, body), Some(schema(new)), "{plural}");
            assert_eq!(json_schema(&by_id["patch"], body), Some(schema(patch)));
            assert_eq!(
                json_schema(&by_id["get"], &format!("{ok}/$ref")),
                Some(schema(record))
            );
            assert_eq!(
                json_schema(list, &format!("{ok}/items/$ref")),
                Some(schema(record))
            );
            assert_eq!(list["tags"], json!([plural]));
            assert_eq!(by_id["get"]["parameters"][0]["in"], "path");
            assert_eq!(
                by_id["delete"]["responses"]["403"]["content"]["application/json"]["schema"]["$ref"],
                schema("ErrorBody")
            );
            for (operation, statuses) in [
                (list, &["200", "400", "503", "504"][..]),
                (
                    add,
                    &[
                        "200", "400", "401", "403", "413", "415", "422", "503", "504",
                    ],
                ),
                (&by_id["get"], &["200", "400", "404", "503", "504"]),
                (
                    &by_id["patch"],
                    &[
                        "200", "400", "401", "403", "404", "413", "415", "422", "503", "504",
                    ],
                ),
                (
                    &by_id["delete"],
                    &["200", "400", "401", "403", "404", "503", "504"],
                ),
            ] {
                let documented: Vec<&str> = operation["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(
                    documented, statuses,
                    "{plural}: {}",
                    operation["operationId"]
                );
            }
            for operation in [&by_id["get"], &by_id["patch"], &by_id["delete"]] {
                assert_eq!(
                    operation["parameters"][0]["schema"]["pattern"],
                    "^[0-9a-fA-F]{24}$"
                );
            }
            let limit = &list["parameters"][1];
            assert_eq!(
                (
                    &limit["name"],
                    &limit["schema"]["maximum"],
                    &limit["schema"]["minimum"]
                ),
                (&json!("limit"), &json!(1000), &json!(1))
            );
            assert_eq!(list["parameters"][0]["schema"]["maximum"], json!(i64::MAX));
            assert_eq!(
                list["responses"]["200"]["headers"]["x-total-count"]["schema"]["type"],
                "integer"
            );
            for name in [record, new, patch, "ErrorBody", "Message"] {
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "{name} is not in the components"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_login_proxy_fails_fast_with_503_when_the_iam_is_unreachable() {
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let mut config = MovieServiceConfig::default();
        config.service.auth_addr = "http://127.0.0.1:9".to_owned();
        config.service.login_max_failures = 2;
        let app = build(&config, None).await.unwrap();
        let mut last = None;
        for _ in 0..3 {
            let request = Request::post("/api/v1/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("user=admin&password=x"))
                .unwrap();
            last = Some(app.clone().oneshot(request).await.unwrap());
            assert_eq!(
                last.as_ref().unwrap().status(),
                StatusCode::SERVICE_UNAVAILABLE
            );
        }
        // The third call met an open breaker: it says when to retry.
        assert!(last.unwrap().headers().contains_key(header::RETRY_AFTER));
    }

    #[tokio::test]
    async fn the_breaker_page_is_served_only_when_enabled() {
        let (status, _, _) = call(&app().await, "GET", "/breakers", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "off by default");

        let mut config = MovieServiceConfig::default();
        config.service.auth_addr = "http://127.0.0.1:9".to_owned();
        config.service.breaker_view_enabled = true;
        let app = build(&config, None).await.unwrap();
        let page = app
            .clone()
            .oneshot(Request::get("/breakers").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        // The stream's first event names the IAM instance's breaker.
        let events = app
            .oneshot(
                Request::get("/breakers/events")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(events.status(), StatusCode::OK);
        let mut body = events.into_body().into_data_stream();
        let chunk = futures_util::StreamExt::next(&mut body)
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&chunk);
        assert!(text.starts_with("event: snapshot"), "{text}");
        assert!(text.contains("user_service/127.0.0.1:9"), "{text}");
    }
}

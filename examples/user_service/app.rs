//! The user service (the seed's IAM): `portcullis-iam`'s router, configured from the
//! service's config. Shared by `user_service` and `local_stack`.

use std::error::Error;
use std::sync::Arc;

use axum::Router;
use portcullis::iam::{AdminBootstrap, Iam, MemoryUserStore, MongoUserStore, SigningKey};
use utoipa::OpenApi;

use crate::support::config::Config;
use crate::support::openapi::{BearerSecurity, ErrorBodyDoc, MessageDoc, swagger};
use crate::support::server::{ReadyCheck, connect_mongodb, finish_router, mongodb_target};

/// Builds the IAM from `config`: signing key, user store, admin bootstrap, routes,
/// Swagger UI and the common layers.
pub(crate) async fn build(config: &Config) -> Result<Router, Box<dyn Error + Send + Sync>> {
    let mut builder = Iam::builder().issuer(config.issuer.clone());
    if let Some(audience) = config.audience() {
        builder = builder.audience(audience);
    }

    // 1. The signing key. Ed25519 by default: only the IAM can mint tokens, and resource
    //    services verify with the public half from /.well-known/jwks.json.
    builder = if let Some(secret) = &config.jwt_secret_password {
        tracing::warn!(
            "tokens: HS256 with the shared jwtSecretPassword (the seed's mode): every \
             service holding the secret can mint tokens; prefer Ed25519"
        );
        builder.signing_key(SigningKey::hmac(secret.expose()))
    } else if let Some(path) = &config.signing_key_file {
        tracing::info!(path = %path.display(), "tokens: EdDSA with the key in PORTCULLIS_SIGNING_KEY_FILE");
        builder.signing_key_file(path)
    } else {
        tracing::info!("tokens: EdDSA with a key generated at start-up");
        builder
    };

    // 2. The user store: MongoDB when configured, else memory. The choice is logged.
    builder = if config.uses_mongodb() {
        let db = connect_mongodb(config, "user_service").await?;
        tracing::info!(
            store = "mongodb",
            target = %mongodb_target(config),
            database = db.name(),
            "user store: MongoDB (collection users)"
        );
        builder.store(MongoUserStore::new(db).await?)
    } else {
        tracing::info!(
            store = "memory",
            "user store: in memory (set MONGODB_URI or mgAddrs for MongoDB)"
        );
        builder.store(MemoryUserStore::new())
    };

    // 3. The first admin, when the store has no user: PORTCULLIS_ADMIN_PASSWORD (or
    //    PORTCULLIS_ADMIN_PASSWORD_FILE) if given; otherwise the crate's default (the
    //    seed's admin/admin in memory, with a warning; a random password on a database).
    if let Some(password) = &config.admin_password {
        builder = builder.admin_bootstrap(AdminBootstrap::Password(password.expose().to_owned()));
    }

    let iam = builder.build().await?;
    tracing::info!(kid = iam.keys().current().kid(), "IAM ready");

    let ready_iam = iam.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let iam = ready_iam.clone();
        Box::pin(async move { iam.ready().await.map_err(|e| e.to_string()) })
    });
    let app = iam.router().merge(swagger(ApiDoc::openapi()));
    Ok(finish_router(app, config, ready))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "user_service",
        description = "The seed's user service (IAM) on Portcullis: login, users (role admin), JWKS."
    ),
    paths(login, create_user, list_users, get_user, get_user_by_query, update_user, delete_user, jwks),
    modifiers(&BearerSecurity),
    components(schemas(ErrorBodyDoc, MessageDoc, LoginForm, TokenReply, UserDoc, NewUserDoc, UserPatchDoc)),
    tags(
        (name = "auth", description = "Login and keys"),
        (name = "users", description = "User management (role admin)")
    )
)]
struct ApiDoc;

// The routes are `portcullis-iam`'s; what follows only describes them for OpenAPI.
#[allow(dead_code)]
mod doc {
    use utoipa::ToSchema;

    /// The login form (also accepted as JSON).
    #[derive(ToSchema)]
    pub(super) struct LoginForm {
        /// The user name.
        #[schema(example = "admin")]
        user: String,
        /// The password.
        password: String,
    }

    /// A login's answer.
    #[derive(ToSchema)]
    #[schema(as = Token)]
    pub(super) struct TokenReply {
        /// The signed JWT.
        token: String,
        /// Always `Bearer`.
        #[schema(example = "Bearer")]
        token_type: String,
        /// Seconds until it expires.
        #[schema(example = 3600)]
        expires_in: u64,
    }

    /// A user as the routes show it: never a password or hash.
    #[derive(ToSchema)]
    #[schema(as = User)]
    pub(super) struct UserDoc {
        /// 24 hexadecimal digits.
        id: String,
        /// The login name.
        name: String,
        /// The first role, or "" (the seed's single role).
        role: String,
        /// Every role.
        roles: Vec<String>,
    }

    /// `POST /api/v1/users`.
    #[derive(ToSchema)]
    #[schema(as = NewUser)]
    pub(super) struct NewUserDoc {
        /// The unique login name.
        name: String,
        /// The password (hashed with argon2id, never stored as given).
        password: String,
        /// Roles, e.g. `["admin"]`.
        roles: Option<Vec<String>>,
    }

    /// `PATCH /api/v1/users`.
    #[derive(ToSchema)]
    #[schema(as = UserPatch)]
    pub(super) struct UserPatchDoc {
        /// The user to change.
        id: String,
        /// A new name.
        name: Option<String>,
        /// A new password.
        password: Option<String>,
        /// New roles.
        roles: Option<Vec<String>>,
    }
}

use doc::{LoginForm, NewUserDoc, TokenReply, UserDoc, UserPatchDoc};

/// Logs in: a token for `user` and `password`.
#[utoipa::path(
    post, path = "/api/v1/admin/auth", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token", body = TokenReply),
        (status = 401, description = "Wrong user or password", body = ErrorBodyDoc),
        (status = 429, description = "Too many failed logins", body = ErrorBodyDoc)
    )
)]
#[allow(dead_code)]
fn login() {}

/// Creates a user (role `admin`).
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    request_body = NewUserDoc,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Created: {message, id}", body = MessageDoc),
        (status = 400, description = "Invalid input", body = ErrorBodyDoc),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc),
        (status = 403, description = "Not an admin", body = ErrorBodyDoc),
        (status = 409, description = "The name is taken", body = ErrorBodyDoc)
    )
)]
#[allow(dead_code)]
fn create_user() {}

/// Lists users (role `admin`).
#[utoipa::path(
    get, path = "/api/v1/users/list", tag = "users",
    params(
        ("offset" = Option<u64>, Query, description = "Users to skip"),
        ("limit" = Option<u32>, Query, description = "At most this many (up to 1000)"),
        ("after" = Option<String>, Query, description = "Start after this id")
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Users, in creation order", body = [UserDoc]),
        (status = 401, description = "No token, or a bad one", body = ErrorBodyDoc),
        (status = 403, description = "Not an admin", body = ErrorBodyDoc)
    )
)]
#[allow(dead_code)]
fn list_users() {}

/// One user (role `admin`).
#[utoipa::path(
    get, path = "/api/v1/users/detail/{id}", tag = "users",
    params(("id" = String, Path, description = "24 hexadecimal digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserDoc),
        (status = 400, description = "Malformed id", body = ErrorBodyDoc),
        (status = 404, description = "No such user", body = ErrorBodyDoc)
    )
)]
#[allow(dead_code)]
fn get_user() {}

/// One user, by query (role `admin`; the seed's form).
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    params(("id" = String, Query, description = "24 hexadecimal digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserDoc),
        (status = 400, description = "Malformed id", body = ErrorBodyDoc),
        (status = 404, description = "No such user", body = ErrorBodyDoc)
    )
)]
#[allow(dead_code)]
fn get_user_by_query() {}

/// Changes a user (role `admin`).
#[utoipa::path(
    patch, path = "/api/v1/users", tag = "users",
    request_body = UserPatchDoc,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = MessageDoc),
        (status = 400, description = "Invalid input", body = ErrorBodyDoc),
        (status = 404, description = "No such user", body = ErrorBodyDoc),
        (status = 409, description = "The name is taken", body = ErrorBodyDoc)
    )
)]
#[allow(dead_code)]
fn update_user() {}

/// Deletes a user (role `admin`).
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "24 hexadecimal digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = MessageDoc),
        (status = 404, description = "No such user", body = ErrorBodyDoc)
    )
)]
#[allow(dead_code)]
fn delete_user() {}

/// The public signing keys, for resource services' guards.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "A JWK set: {\"keys\": [{\"kty\":\"OKP\",\"crv\":\"Ed25519\",...}]}"))
)]
#[allow(dead_code)]
fn jwks() {}

//! The user service (the IAM): `portcullis-iam`'s router, configured from the service's
//! configuration.

use std::error::Error;
use std::sync::Arc;

use axum::Router;
use portcullis_iam::{
    AdminBootstrap, BootstrapClient, Iam, MemoryUserStore, MongoOAuthStore, MongoUserStore,
    OAuthSettings, SigningKey, ThrottlePolicy,
};
use utoipa::OpenApi;

use crate::config::UserServiceConfig;
use crate::mongo::{connect_mongodb, mongodb_target};
use crate::openapi::swagger;
use crate::server::{ReadyCheck, finish_router};

/// Builds the IAM from `config`: signing key, user store, admin bootstrap, routes,
/// Swagger UI and the common layers.
pub async fn build(config: &UserServiceConfig) -> Result<Router, Box<dyn Error + Send + Sync>> {
    // The metrics recorder first: what is built below registers its metrics when built.
    crate::metrics::prometheus();
    let common = &config.common;
    let mut builder = Iam::builder().issuer(common.issuer.clone());
    if let Some(audience) = common.audience() {
        builder = builder.audience(audience);
    }

    // 1. The signing key. Ed25519 by default: only the IAM can mint tokens, and resource
    //    services verify with the public half from /.well-known/jwks.json.
    builder = if let Some(secret) = &common.jwt_secret_password {
        tracing::warn!(
            "tokens: HS256 with the shared jwtSecretPassword (the original project's mode): every \
             service holding the secret can mint tokens; prefer Ed25519"
        );
        builder.signing_key(SigningKey::hmac(secret.expose())?)
    } else if let Some(path) = &config.service.signing_key_file {
        tracing::info!(path = %path.display(), "tokens: EdDSA with the key in PORTCULLIS_SIGNING_KEY_FILE");
        builder.signing_key_file(path)
    } else {
        tracing::info!("tokens: EdDSA with a key generated at start-up");
        builder
    };

    // 2. The user store, and beside it the OAuth clients and refresh tokens: MongoDB when
    //    configured (so every instance of a fleet refreshes and revokes what another
    //    issued), else memory. The choice is logged.
    let mut oauth = OAuthSettings::default();
    builder = if common.uses_mongodb() {
        let db = connect_mongodb(common, "user_service").await?;
        tracing::info!(
            store = "mongodb",
            target = %mongodb_target(common),
            database = db.name(),
            "user store: MongoDB (collections users, oauthClients, oauthRefreshTokens)"
        );
        oauth = oauth.store(MongoOAuthStore::new(db.clone()).await?);
        builder.store(MongoUserStore::new(db).await?)
    } else {
        tracing::info!(
            store = "memory",
            "user store: in memory (set MONGODB_URI or mgAddrs for MongoDB)"
        );
        builder.store(MemoryUserStore::new())
    };
    builder = builder.oauth(oauth_settings(config, oauth));

    // 3. The first admin, when the store has no user: PORTCULLIS_ADMIN_PASSWORD (or
    //    PORTCULLIS_ADMIN_PASSWORD_FILE) if given. Otherwise this example opts in to the
    //    original project's admin/admin on the in-memory store (the library logs a loud
    //    warning), so that the README's curl lines work as they are; on a database the
    //    library's default applies: a random one-time password, printed once.
    if let Some(password) = &config.service.admin_password {
        builder = builder.admin_bootstrap(AdminBootstrap::Password(password.expose().to_owned()));
    } else if !common.uses_mongodb() {
        builder = builder.admin_bootstrap(AdminBootstrap::dev_default_credentials());
    }

    // 4. The login throttle counts failures per name and per client address. Behind a
    //    proxy (nginx, the movie service's /api/v1/login) the client is in
    //    X-Forwarded-For, believed only from the trusted proxies.
    let settings = &config.service;
    if settings.trusted_proxies.is_empty() {
        tracing::info!("login throttle: per TCP peer (no trustedProxies, X-Forwarded-For ignored)");
    } else {
        tracing::info!(
            trusted_proxies = ?settings.trusted_proxies,
            forwarded_hops = settings.forwarded_hops,
            "login throttle: per client address forwarded by the trusted proxies"
        );
    }
    builder = builder.throttle(
        ThrottlePolicy::default()
            .trusted_proxies(settings.trusted_proxies.iter().copied())
            .forwarded_hops(settings.forwarded_hops),
    );

    let iam = builder.build().await?;
    tracing::info!(kid = iam.keys().current().kid(), "IAM ready");

    let ready_iam = iam.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let iam = ready_iam.clone();
        Box::pin(async move { iam.ready().await.map_err(|e| e.to_string()) })
    });
    // 5. The routes and their OpenAPI document, both from the IAM (the document carries the
    //    bearer scheme, so Swagger UI's "Authorize" takes a token), and Swagger UI.
    let mut openapi = ApiDoc::openapi();
    openapi.merge(iam.openapi());
    let app = iam.router().merge(swagger(openapi));
    crate::metrics::serve_on_own_port(common).await?;
    Ok(finish_router(app, common, ready))
}

/// The OAuth 2.0 settings on top of `oauth` (its store): the hash key shared by a fleet's
/// instances, and the bootstrap client when `bootstrapClientId` and its secret are set.
fn oauth_settings(config: &UserServiceConfig, mut oauth: OAuthSettings) -> OAuthSettings {
    let settings = &config.service;
    if let Some(key) = &settings.oauth_hash_key {
        oauth = oauth.hash_key(key.expose());
    }
    let id = settings.bootstrap_client_id.trim();
    match (&settings.bootstrap_client_secret, id.is_empty()) {
        (Some(secret), false) => {
            tracing::info!(client_id = id, scopes = ?settings.bootstrap_client_scopes, "OAuth: bootstrap client registered");
            oauth.bootstrap_client(BootstrapClient::new(
                id,
                secret.expose(),
                settings.bootstrap_client_scopes.iter().cloned(),
            ))
        }
        (None, false) => {
            tracing::warn!(
                client_id = id,
                "OAuth: bootstrapClientId without bootstrapClientSecret; no bootstrap client"
            );
            oauth
        }
        _ => oauth,
    }
}

/// The service's own part of the document; the routes come from `Iam::openapi`, generated
/// from the IAM's handlers, so the two cannot drift apart.
#[derive(OpenApi)]
#[openapi(info(
    title = "user_service",
    description = "The user service (IAM) on Portcullis: login, users (role admin), JWKS, OAuth 2.0 (token, revocation, introspection, clients)."
))]
struct ApiDoc;

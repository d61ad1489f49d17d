//! A token issuer for axum services: users with argon2id passwords, signed JWTs, JWKS,
//! key rotation and user-management routes.
//!
//! The "IAM service" of the original go-microservices project as a library: build an
//! [`Iam`], mount
//! [`Iam::router`], and resource services verify its tokens with
//! `portcullis-resource-guard` through the published JWKS, without calling the IAM per
//! request.
//!
//! - **Users** live in a [`UserStore`]: [`MemoryUserStore`] (the default) or
//!   `MongoUserStore` (feature `mongodb`). Names are unique; store errors map to 409, 404,
//!   400 or 503, never a 500 for a client mistake.
//! - **Passwords** are hashed with argon2id at the OWASP minimum (m = 19456 KiB, t = 2,
//!   p = 1) on a few dedicated threads that run below the runtime's priority, a bounded
//!   number at a time ([`PasswordPolicy`]).
//!   Unknown users are checked against a dummy hash, so timing does not tell which names
//!   exist. Hashes are upgraded on login when the parameters change, and never appear in
//!   a response or a log line.
//! - **Tokens** are JWTs (`typ: at+jwt`) with `sub`, `name`, `role`, `roles`, `iss`,
//!   `aud`, `iat`, `nbf`, `exp`, `jti` ([`AccessClaims`]), signed with Ed25519 by default
//!   or HS256 with a shared secret of at least 32 bytes ([`SigningKey`]). The `kid` is the
//!   RFC 7638 thumbprint. [`Iam::rotate_key`] switches keys while the former public key
//!   stays in the JWKS until its tokens expire ([`KeyRing`]).
//! - **Logins** are throttled per user name and per client address ([`ThrottlePolicy`]);
//!   attempts are counted before the password is checked, so the limit is exact under
//!   concurrency, and correct logins running at once wait for each other instead of being
//!   refused. Behind a reverse proxy, the client address comes from `X-Forwarded-For`
//!   only when the peer is a configured trusted proxy; IPv6 clients count per /64.
//! - **OAuth 2.0** ([`OAuthSettings`]): `POST /oauth2/token` (RFC 6749) with the
//!   `client_credentials`, `password` and `refresh_token` grants for registered clients
//!   ([`Iam::register_client`], a [`BootstrapClient`]), revocation (RFC 7009),
//!   introspection (RFC 7662) and server metadata (RFC 8414). Client secrets and refresh
//!   tokens are 256 random bits stored as a keyed hash; refresh tokens rotate on every use,
//!   and a reused one revokes its family. Clients and refresh tokens live in an
//!   [`OAuthStore`] ([`MemoryOAuthStore`], or `MongoOAuthStore` shared by a fleet).
//! - **The first admin** is created when the store is empty ([`AdminBootstrap`]): with a
//!   configured password, or else a random one printed once; never a known one unless
//!   asked for. The last admin cannot be deleted or lose the role (409).
//! - **Errors** are [`IamError`] per call (mapped to a status, never a 500 for a client
//!   mistake) and [`ConfigError`] while building (out-of-range settings, unusable keys:
//!   never a panic).
//!
//! # What differs from the original go-microservices project
//! The original stored and compared passwords in plain text and returned them from its
//! user routes; let any logged-in user manage users (here: role `admin`); turned every
//! store error into a 500; created `admin`/`admin` silently on any database (here: only on
//! request, [`AdminBootstrap::dev_default_credentials`], for an in-memory store); and shared
//! one HMAC secret with every service, so every verifier could mint tokens (here: Ed25519
//! and a public JWKS by default).
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use portcullis_iam::{AdminBootstrap, Iam, MemoryUserStore, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let iam = Iam::builder()
//!     .issuer("seedotech")
//!     .audience("movies")
//!     .store(MemoryUserStore::new())
//!     .signing_key(SigningKey::generate_ed25519())
//!     .token_ttl(Duration::from_secs(3600))
//!     .admin_bootstrap(AdminBootstrap::Password("a long admin password".into()))
//!     .build()
//!     .await?;
//! let app: axum::Router = iam.router();
//! // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that logins are
//! also throttled per client address.
//!
//! # Features
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `mongodb` | no | `MongoUserStore` and `MongoOAuthStore`, on the official driver (collection `users`, unique index on `name`; `oauthClients`, `oauthRefreshTokens` with TTL indexes on its expiry dates, `oauthRefreshTokenUses`, `oauthRevokedFamilies`) |
//! | `openapi` | no | the `openapi` module: the routes' `OpenAPI` document generated with utoipa from the handlers, `Iam::openapi` |

mod bootstrap;
mod client_address;
mod error;
mod iam;
mod keys;
mod metrics;
mod oauth;
#[cfg(feature = "openapi")]
pub mod openapi;
mod password;
mod routes;
mod store;
mod throttle;
mod token;

pub use bootstrap::{ADMIN_NAME, AdminBootstrap};
pub use client_address::IpRange;
pub use error::{ConfigError, IamError};
pub use iam::{Iam, IamBuilder};
pub use keys::{KeyRing, MIN_HMAC_SECRET_BYTES, SigningKey};
#[cfg(feature = "mongodb")]
pub use oauth::MongoOAuthStore;
pub use oauth::{
    AUTHORIZATION_SERVER_METADATA_PATH, BootstrapClient, ClientSecret, ClientUpdate, ClientView,
    GrantType, INTROSPECTION_PATH, Introspection, MemoryOAuthStore, NewClient, OAuthClient,
    OAuthSettings, OAuthStore, OAuthTokenResponse, OPENID_CONFIGURATION_PATH, REVOCATION_PATH,
    RefreshTokenRecord, RefreshTokenState, TOKEN_PATH,
};
pub use password::{PasswordPolicy, Passwords, Verification};
pub use portcullis_resource_guard::{Clock, SystemClock};
pub use routes::{ADMIN_ROLE, JWKS_PATH};
pub use store::{
    MemoryUserStore, NewUser, PageRequest, User, UserStore, UserUpdate, UserView, new_object_id,
    parse_object_id,
};
#[cfg(feature = "mongodb")]
pub use store::{MongoUserStore, MongoUserStoreBuilder};
pub use throttle::ThrottlePolicy;
pub use token::{AccessClaims, IssuedToken, TOKEN_TYPE};

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

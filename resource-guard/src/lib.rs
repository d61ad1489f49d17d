//! Bearer-JWT validation for resource services: a tower layer with JWKS, an algorithm
//! allow-list, typed claims and roles.
//!
//! A resource service (the seed's movie service) validates the IAM's tokens locally,
//! without a call to the IAM per request. Build a [`Guard`] with the issuer, the
//! audience and where the keys come from, put [`Guard::layer`] in front of the routes,
//! and take [`Claims`] in the handlers.
//!
//! - **Keys**: an HMAC secret (the seed's shared secret), static public keys (PEM or JWK;
//!   RS256, PS256, ES256, `EdDSA` and their siblings), a JWKS URL (cached, refreshed in the
//!   background, refetched once and rate-limited for an unknown `kid`, kept when a
//!   refresh fails) or an in-process [`KeySource`]. Each key is bound to one algorithm:
//!   the token's `alg` must equal it, and `none` is never accepted.
//! - **Validation**: a size cap before any parsing, `iss` exact, `aud` when configured,
//!   `exp` required, `nbf` and `iat` checked with a leeway, time claims only as integers,
//!   `crit` refused, a `typ` policy ([`TypPolicy`]), and keys never taken from the token
//!   (`jku`, `x5u`, `jwk`, `x5c` are refused).
//! - **In axum**: RFC 6750 errors with the Portcullis `{code,message}` bodies, an
//!   optional mode, the [`Claims`] extractor, [`require_role`] / [`require_scope`], and a
//!   bounded cache of verified tokens so that repeated tokens skip the signature check.
//!
//! ```
//! use axum::{Router, body::Body, routing::{get, post}};
//! use http::{Request, StatusCode, header};
//! use portcullis_resource_guard::{Claims, Guard, require_role};
//! use portcullis_resource_guard::jsonwebtoken::{EncodingKey, Header, encode};
//! use portcullis_response::{ApiResult, Message};
//! use tower::ServiceExt;
//!
//! async fn whoami(claims: Claims) -> String {
//!     claims.name
//! }
//!
//! async fn add_movie(claims: Claims) -> ApiResult<Message> {
//!     claims.require_role("admin")?; // or `.route_layer(require_role("admin"))`
//!     Ok(Message::success())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"the seed's jwtSecretPassword, 32+ bytes";
//! let guard = Guard::builder()
//!     .issuer("seedotech")
//!     .hmac_secret(secret)
//!     .build()
//!     .await?;
//!
//! let app = Router::new()
//!     .route("/whoami", get(whoami))
//!     .route("/movies", post(add_movie))
//!     .route("/admin", get(|| async { "hello admin" }).route_layer(require_role("admin")))
//!     .layer(guard.layer());
//!
//! // Without a token: 401 with a bare challenge.
//! let response = app.clone().oneshot(Request::get("/whoami").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
//!
//! // With a token the IAM would issue (HS256 in the seed's mode).
//! let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
//! let claims = serde_json::json!({ "iss": "seedotech", "name": "ann", "role": "", "exp": exp });
//! let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
//! let request = Request::get("/whoami")
//!     .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!     .body(Body::empty())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! // Valid, but not an admin: 403 insufficient_scope.
//! let request = Request::get("/admin")
//!     .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!     .body(Body::empty())?;
//! assert_eq!(app.oneshot(request).await?.status(), StatusCode::FORBIDDEN);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls` | off | `https://` JWKS URLs: rustls on the `ring` provider with the platform's CA roots (no aws-lc C build; no process-wide provider needed or installed); plain `http://` needs nothing |
//!
//! # Security notes
//!
//! The rules the guard enforces, and why, are in the workspace's `docs/security.md`, section
//! "Token validation in the resource guard".

mod build_error;
mod builder;
mod cache;
mod claims;
mod client;
mod clock;
mod error;
mod guard;
mod header;
mod jwks;
mod keys;
pub mod middleware;
mod signature;
#[cfg(feature = "rustls")]
mod tls;
mod token;
mod validation;

pub use build_error::GuardBuildError;
pub use builder::GuardBuilder;
pub use claims::Claims;
pub use clock::{Clock, SystemClock};
pub use error::{GuardError, TokenRejection};
pub use guard::Guard;
pub use header::TypPolicy;
pub use jsonwebtoken;
pub use jsonwebtoken::Algorithm;
pub use keys::KeySource;
pub use middleware::{GuardLayer, RequireLayer, require_role, require_scope};

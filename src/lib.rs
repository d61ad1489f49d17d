//! Portcullis: an SDK for secure, resilient microservices on axum and tower.
//!
//! This umbrella crate re-exports the Portcullis crates behind features, all on by default:
//!
//! | feature    | crate                                   | what it gives you |
//! |------------|-----------------------------------------|-------------------|
//! | `response` | [`portcullis-response`](response)       | the error/response model: `{"code","message"}` errors, extractors, service layers |
//! | `guard`    | [`portcullis-resource-guard`](guard)    | bearer-JWT validation as a tower layer, typed claims and roles |
//! | `iam`      | [`portcullis-iam`](iam)                 | the token issuer: users, argon2id passwords, signing keys, JWKS, routes |
//! | `breaker`  | [`portcullis-circuit-breaker`](breaker) | an async circuit breaker, its tower layer and a load-balancing HTTP client |
//!
//! Off by default: `openapi` turns on `portcullis-iam`'s `openapi` feature (the IAM routes'
//! `OpenAPI` document, generated with utoipa, for a service's Swagger UI).

#[cfg(feature = "response")]
#[doc(inline)]
pub use portcullis_response as response;

#[cfg(feature = "guard")]
#[doc(inline)]
pub use portcullis_resource_guard as guard;

#[cfg(feature = "iam")]
#[doc(inline)]
pub use portcullis_iam as iam;

#[cfg(feature = "breaker")]
#[doc(inline)]
pub use portcullis_circuit_breaker as breaker;

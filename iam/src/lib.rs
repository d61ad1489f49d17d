//! A token issuer for axum services: users with argon2id passwords, signed JWTs, JWKS, key rotation and user-management routes.
//!
//! Work in progress.

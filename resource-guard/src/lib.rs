//! Bearer-JWT validation for resource services: a tower layer with JWKS, an algorithm allow-list, typed claims and roles.
//!
//! Work in progress.

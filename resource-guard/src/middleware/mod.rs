//! The tower middleware: [`GuardLayer`] verifies bearer tokens, [`RequireLayer`] checks
//! roles and scopes of an already verified token.
//!
//! `GuardLayer` reads `Authorization: Bearer <token>` (the scheme is case-insensitive),
//! verifies the token with its [`Guard`](crate::Guard) and puts the verified claims into
//! the request extensions, where [`Claims`](crate::Claims) finds them. Failures follow
//! RFC 6750 section 3 (see [`GuardError`](crate::GuardError) for the table):
//!
//! - no `Authorization` header, or another scheme such as `Basic`: `401` with a bare
//!   `WWW-Authenticate: Bearer` (RFC 6750 asks for no error code when the client sent no
//!   bearer credentials);
//! - an empty or repeated `Authorization` header, or `Bearer` without a token: `400` with
//!   `error="invalid_request"`;
//! - a token that fails verification: `401` with `error="invalid_token"` and a fixed
//!   `error_description`.
//!
//! With [`Guard::optional_layer`](crate::Guard::optional_layer) requests without bearer
//! credentials pass through unauthenticated; a bearer token that is sent is still checked.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::{GuardLayer, RequireLayer, require_role, require_scope};
pub use service::{GuardService, Require};

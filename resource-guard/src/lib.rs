#![doc = include_str!("../README.md")]

mod assemble;
mod build_error;
mod builder;
mod cache;
mod claims;
mod client;
mod clock;
mod error;
mod guard;
mod header;
mod issuers;
mod jwks;
mod keys;
mod limits;
mod metadata;
mod metrics;
pub mod middleware;
mod routing;
mod signature;
#[cfg(feature = "rustls")]
mod tls;
mod token;
mod validation;

pub use build_error::{GuardBuildError, MetadataProblem};
pub use builder::GuardBuilder;
pub use claims::Claims;
pub use clock::{Clock, SystemClock};
pub use error::{GuardError, TokenRejection};
pub use guard::Guard;
pub use header::TypPolicy;
pub use issuers::TrustedIssuer;
pub use jsonwebtoken;
pub use jsonwebtoken::Algorithm;
pub use keys::KeySource;
pub use middleware::{GuardLayer, RequireLayer, require_role, require_scope};

//! The defaults a service installs once: fallbacks, body limit, panics, request ids, timeout,
//! and the conversion of every other error response into the model.
//!
//! This module assembles the stack; each layer's job lives in its own module
//! (`request_id`, `finish`, `timeout`, `limit`).

mod fallback;
mod router;
mod settings;

pub use fallback::{method_not_allowed, not_found};
pub use router::RouterExt;
pub use settings::ServiceDefaults;

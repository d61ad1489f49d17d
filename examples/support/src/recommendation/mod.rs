//! The recommendation client's parts: its flags ([`config`]), the form login at the IAM
//! ([`login`]), the movie list fetched through the circuit breaker ([`movies`]) and the
//! scoring ([`recommend`]). The `recommendation_client` example runs the rounds.

pub mod config;
pub mod login;
pub mod movies;
pub mod recommend;

use std::time::Duration;

/// Whole milliseconds, for the output lines.
fn elapsed_ms(elapsed: Duration) -> u128 {
    elapsed.as_millis()
}

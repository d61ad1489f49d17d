//! An async circuit breaker with Akka's state machine, listeners, exponential backoff, a tower layer and a load-balancing reqwest client.
//!
//! Work in progress.

//! The shared code of Portcullis's example services, one module per job.
//!
//! The programs under `examples/` (`movie_service`, `user_service`, `local_stack`,
//! `recommendation_client`) are short and narrated; what they have in common lives here:
//!
//! | module              | job |
//! |---------------------|-----|
//! | [`breaker_view`]    | `GET /breakers`: a live page of the circuit breakers, over Server-Sent Events |
//! | [`config`]          | each service's configuration: file, `PORTCULLIS_*` variables, secrets |
//! | [`logging`]         | console and rotated JSON-file logs |
//! | `otel`              | (feature `otel`) spans exported over OTLP/HTTP, continuing each request's W3C trace |
//! | [`metrics`]         | `GET /metrics`: the Prometheus exporter of the libraries' metrics |
//! | [`server`]          | probes, the common layers, binding, graceful shutdown |
//! | [`tls`]             | HTTPS between services: trusted roots, the reqwest client, the plain-http rule |
//! | [`mongo`]           | the `MongoDB` connection both services may use |
//! | [`openapi`]         | the bearer scheme and Swagger UI |
//! | [`movies`]          | the movie data model and its stores (memory, `MongoDB`) |
//! | [`registry`]        | the service registry (etcd): announcing an instance, following the services it calls |
//! | [`movie_service`]   | the movie service's router: one generic resource for movies and genres, the login proxy |
//! | [`user_service`]    | the user service (IAM) router |
//! | [`recommendation`]  | the recommendation client's parts: flags, login, the breaker-guarded movie source, scoring |
//! | `testing`           | (feature `testing`) the process harness of the end-to-end tests |
//!
//! This crate is not published: it exists so that the examples stay programs and the
//! tests can reach the same code without path-attribute includes.
#![warn(missing_docs)]

pub mod breaker_view;
pub mod config;
pub mod logging;
pub mod metrics;
pub mod mongo;
pub mod movie_service;
pub mod movies;
pub mod openapi;
#[cfg(feature = "otel")]
pub mod otel;
pub mod recommendation;
pub mod registry;
pub mod server;
pub mod tls;
pub mod user_service;

#[cfg(feature = "testing")]
pub mod testing;

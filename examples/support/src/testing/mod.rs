//! The end-to-end tests' harness (feature `testing`): the example binaries started as real
//! processes on loopback ports, their output read line by line, and HTTP helpers.
//!
//! - [`binary`]: where cargo put the example binaries (and why that is how we find them);
//! - [`process`]: child processes killed on drop, with their output for failure reports;
//! - [`service`]: the services started and waited for, restartable on the same port;
//! - [`http`]: a bounded client, the form login, the error model's shape, raw requests,
//!   buffered `http` requests for client libraries (`oauth2`);
//! - [`tls_front`]: a test CA and a TLS front, for clients that insist on `https://`;
//! - [`etcd`] and [`fleet`]: the registry tests' etcd, services that register themselves,
//!   the recommendation client following them, and the tally of its calls.
//!
//! When a test panics, the captured output of every process it started is printed, which
//! is usually the fastest way to see why.

pub mod binary;
pub mod etcd;
pub mod fleet;
pub mod http;
pub mod process;
pub mod service;
pub mod tls_front;

pub use binary::example_binary;
pub use http::{assert_error_model, http_client, login, raw_request, send_buffered};
pub use process::{ChildGuard, Process, TempDir, free_port};
pub use service::{
    ADMIN_PASSWORD, ISSUER, START_TIMEOUT, Service, Stack, example_command, repository_root,
    start_movie_service, start_user_service,
};
pub use tls_front::{TestCa, TlsFront};

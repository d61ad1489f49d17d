//! Code shared by the example services, pulled into each binary with
//! `#[path = "../support/mod.rs"] mod support;`.
//!
//! Each binary uses a different part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub(crate) mod config;
pub(crate) mod logging;
pub(crate) mod movies;
pub(crate) mod openapi;
pub(crate) mod server;

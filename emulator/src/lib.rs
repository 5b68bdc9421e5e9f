//! A faithful local StreamSets Control Hub for API credentials: the security app's credential,
//! user and configuration endpoints, everything the official Python SDK calls while it starts,
//! an admin API for tests (`/emulator/v1`), fault injection, statistics and a durable state file.
//!
//! Module map:
//! - `cli`, `startup`, `server`, `tls`: command line, start-up line, listener (HTTP/HTTPS);
//! - `routes` (+ `paths`, `extract`, `observe`): the HTTP surface;
//! - `auth`, `errors`, `wire`, `openapi`, `roles`: authentication, ISSUES errors, JSON shapes;
//! - `state`: the organization, its rules and persistence; `token`, `ids`: tokens and identifiers;
//! - `faults`, `stats`, `operation`: fault injection and request counts per operation;
//! - `profile`: one switch for the behaviours the public sources leave open (`--profile strict`).
//!
//! [`build_app`] gives the router for in-process use.

pub mod auth;
pub mod cli;
pub mod context;
pub mod errors;
pub mod extract;
pub mod faults;
pub mod ids;
pub mod observe;
pub mod openapi;
pub mod operation;
pub mod paths;
pub mod profile;
pub mod roles;
pub mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod stats;
pub mod tls;
pub mod token;
pub mod wire;

pub use context::{AppState, Scheme, Shared};
pub use routes::build_app;

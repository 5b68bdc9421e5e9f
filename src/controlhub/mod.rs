//! The Control Hub REST client: the only code that speaks HTTP to Control Hub.
//!
//! [`ControlHubClient`] performs the API-credential operations of the security app through one
//! generic request function (headers, rate limit, timeout, retries, error decoding, tracing,
//! [`RequestObserver`]); [`AuthToken`] keeps tokens out of every printout. This module must not
//! know about Kubernetes or decide what the operator does with a result.
//!
//! Files: `ids`/`token` (domain values), `wire` (JSON bodies) → `model` (domain types),
//! `operation` (names, retry safety), `error`/`classify` (typed errors), `retry`/`ratelimit`
//! (policies), `config` (headers, TLS), `request` (the generic request function), `client`
//! (typed operations), `discovery` (ASTER org info), `observe` (metrics hook).

mod classify;
mod client;
mod config;
mod discovery;
mod error;
mod ids;
mod model;
mod observe;
mod operation;
mod ratelimit;
mod request;
mod retry;
mod token;
mod wire;

pub use client::ControlHubClient;
pub use config::{ClientConfig, REQUESTED_BY, default_user_agent};
pub use discovery::{LANDING_SUFFIX, base_url_from_landing};
pub use error::{ConfigError, Error, Issue};
pub use ids::{CredentialId, OrgId, UserId};
pub use model::{Credential, IssuedCredential, ORG_ADMIN_ROLE, Principal};
pub use observe::{OUTCOME_OK, RequestObserver};
pub use operation::{Operation, RetrySafety};
pub use ratelimit::RateLimiter;
pub use retry::{RetryDecision, RetryPolicy};
pub use token::{AuthToken, TokenClaims, TokenError};

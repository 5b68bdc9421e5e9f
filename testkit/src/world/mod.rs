//! One test world, built the same way by the e2e `Env`, the operator benchmark's `Lab` and
//! `controlhub-dev` (`make dev-up`, `make demo`): a [`Connection`] to a Control Hub emulator (the
//! Secret with an identity's credential plus a ControlHubConnection or ClusterControlHubConnection
//! manifest), an [`OperatorLauncher`] (the operator's command line and its spawn with a log file),
//! and [`CredentialManifest`], an ApiCredential as a user writes it.
//!
//! Manifests are `serde_json::Value`s (YAML on request) so that this crate never depends on the
//! operator's types. The connection Secret holds a token: [`Connection`]'s `Debug` hides it, and
//! nothing here prints a manifest.

mod connection;
mod credential;
mod launcher;

pub use connection::{CONNECTION_SECRET, Connection, ConnectionKind};
pub use credential::CredentialManifest;
pub use launcher::OperatorLauncher;

/// The API group and version of the operator's kinds.
pub const API_VERSION: &str = "controlhub.dev/v1alpha1";

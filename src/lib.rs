//! controlhub-operator: manages StreamSets Control Hub API credentials declared as Kubernetes
//! `ApiCredential` resources, delivering each credential's ID and token in a Secret.
//!
//! Module map:
//! - [`api`]: the custom resource types (user-facing docs live on their fields).
//! - [`controlhub`]: the Control Hub REST client; the only code that speaks HTTP to Control Hub.
//! - [`controller`]: reconcile, as gather -> decide (pure) -> act -> report.

pub mod api;
pub mod controlhub;
pub mod controller;

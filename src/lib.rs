//! controlhub-operator: manages StreamSets Control Hub API credentials declared as Kubernetes
//! `ApiCredential` resources, delivering each credential's ID and token in a Secret.
//!
//! Module map:
//! - [`api`]: the custom resource types (user-facing docs live on their fields).
//! - [`controlhub`]: the Control Hub REST client; the only code that speaks HTTP to Control Hub.
//! - [`controller`]: reconcile, as gather -> decide (pure) -> act -> report.
//! - [`crdgen`]: CRD YAML generated from the types.
//! - [`leader`], [`health`], [`metrics`], [`kube_requests`], [`telemetry`]: running as a
//!   well-behaved service.

pub mod api;
pub mod controlhub;
pub mod controller;
pub mod crdgen;
pub mod health;
pub mod kube_requests;
pub mod leader;
pub mod metrics;
pub mod telemetry;

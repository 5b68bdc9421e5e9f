//! Custom resource types of the `controlhub.dev/v1alpha1` API: `ApiCredential`,
//! `ControlHubConnection`, `ClusterControlHubConnection`, their statuses and typed conditions.
//!
//! `///` docs on fields are user-facing (`kubectl explain`); admission rules are declared on the
//! types from [`rules`]. This module holds data and pure helpers only: no I/O, no clock.

mod api_credential;
mod api_credential_status;
pub mod conditions;
mod connection;
mod connection_ref;
mod connection_status;
pub mod duration;
mod output_format;
mod reason;
mod restart_target;
mod rotation;
pub mod rules;
mod secret_template;

#[cfg(test)]
mod admission_tests;
#[cfg(test)]
mod schema_tests;

pub use api_credential::{ApiCredential, ApiCredentialSpec, DeletionPolicy};
pub use api_credential_status::{ApiCredentialStatus, RotationInProgress, RotationReason};
pub use conditions::{ConditionStatus, ConditionType, DesiredCondition};
pub use connection::{
    ClusterControlHubConnection, ClusterControlHubConnectionSpec, ClusterCredentialsSecretRef,
    ConnectionSettings, ControlHubConnection, ControlHubConnectionSpec, CredentialsSecretRef, RateLimit,
};
pub use connection_ref::{ConnectionKind, ConnectionRef};
pub use connection_status::{ConnectionStatus, OwnerCredentialCount};
pub use output_format::{DEFAULT_DOTENV_KEY, DEFAULT_ORGANIZATION_ID_KEY, OutputFormat, OutputFormatType};
pub use reason::Reason;
pub use restart_target::{RestartTarget, WorkloadKind};
pub use rotation::{DEFAULT_GRACE_PERIOD, Rotation, RotationStrategy};
pub use secret_template::{SecretKeys, SecretTemplate};

/// API group of every resource here.
pub const GROUP: &str = "controlhub.dev";
/// API version of every resource here.
pub const VERSION: &str = "v1alpha1";
/// Finalizer that keeps an ApiCredential until `deletionPolicy` has been applied in Control Hub.
pub const FINALIZER: &str = "controlhub.dev/credential";
/// Annotation whose every new value asks for one rotation.
pub const ROTATE_ANNOTATION: &str = "controlhub.dev/rotate";
/// Annotation whose every new value makes the next reconcile compare with a fresh list from
/// Control Hub (instead of the cached one).
pub const REFRESH_ANNOTATION: &str = "controlhub.dev/refresh";
/// Name of the ClusterControlHubConnection used when `spec.connectionRef` is absent.
pub const DEFAULT_CONNECTION_NAME: &str = "default";

//! `spec.restartTargets` of an ApiCredential: workloads restarted when the token changes.
//!
//! Declares the reference only; performing the rollout restart is the controller's job.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rules;

/// Kind of workload that can be restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadKind {
    /// An apps/v1 Deployment.
    Deployment,
    /// An apps/v1 StatefulSet.
    StatefulSet,
    /// An apps/v1 DaemonSet.
    DaemonSet,
}

impl WorkloadKind {
    /// The Kubernetes kind name.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// A workload in the ApiCredential's namespace that gets a rollout restart whenever the Secret's
/// token changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct RestartTarget {
    /// Kind of the workload: Deployment, StatefulSet or DaemonSet.
    pub kind: WorkloadKind,
    /// Name of the workload.
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::DNS_SUBDOMAIN))]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kind_and_name() {
        let target: RestartTarget =
            serde_json::from_str(r#"{"kind":"StatefulSet","name":"db"}"#).expect("parses");
        assert_eq!(target.kind, WorkloadKind::StatefulSet);
        assert_eq!(target.kind.as_str(), "StatefulSet");
        assert_eq!(target.name, "db");
    }

    #[test]
    fn unknown_kind_is_refused() {
        assert!(serde_json::from_str::<RestartTarget>(r#"{"kind":"Job","name":"x"}"#).is_err());
    }
}

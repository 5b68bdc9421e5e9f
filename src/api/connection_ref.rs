//! `spec.connectionRef` of an ApiCredential: which connection (and so which Control Hub
//! organization and identity) manages the credential.
//!
//! Only the reference lives here; resolving it and checking that the namespace may use it is the
//! controller's job.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DEFAULT_CONNECTION_NAME;
use super::rules;

/// The kind of connection an ApiCredential refers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConnectionKind {
    /// A ControlHubConnection in the ApiCredential's own namespace.
    ControlHubConnection,
    /// A cluster-wide ClusterControlHubConnection that allows the ApiCredential's namespace.
    #[default]
    ClusterControlHubConnection,
}

impl ConnectionKind {
    /// The Kubernetes kind name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::ControlHubConnection => "ControlHubConnection",
            ConnectionKind::ClusterControlHubConnection => "ClusterControlHubConnection",
        }
    }
}

/// A reference to the connection that manages a credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRef {
    /// Kind of the connection: ControlHubConnection (same namespace) or
    /// ClusterControlHubConnection (the default).
    #[serde(default)]
    pub kind: ConnectionKind,
    /// Name of the connection.
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::DNS_SUBDOMAIN))]
    pub name: String,
}

impl Default for ConnectionRef {
    /// The ClusterControlHubConnection named `default`, used when `spec.connectionRef` is absent.
    fn default() -> Self {
        Self {
            kind: ConnectionKind::ClusterControlHubConnection,
            name: DEFAULT_CONNECTION_NAME.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_defaults_to_the_cluster_connection_when_omitted() {
        let parsed: ConnectionRef = serde_json::from_str(r#"{"name":"prod"}"#).expect("parses");
        assert_eq!(parsed.kind, ConnectionKind::ClusterControlHubConnection);
        assert_eq!(parsed.name, "prod");
    }

    #[test]
    fn default_reference_is_the_cluster_connection_named_default() {
        let reference = ConnectionRef::default();
        assert_eq!(reference.kind.as_str(), "ClusterControlHubConnection");
        assert_eq!(reference.name, "default");
    }

    #[test]
    fn kind_serializes_as_the_kubernetes_kind_name() {
        let reference = ConnectionRef {
            kind: ConnectionKind::ControlHubConnection,
            name: "a".into(),
        };
        let json = serde_json::to_value(&reference).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"kind": "ControlHubConnection", "name": "a"})
        );
    }
}

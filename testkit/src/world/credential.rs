//! An ApiCredential of a test world, as a user writes it: name, label, user, rotation, Secret
//! name and keys, deletion policy; as JSON or YAML.

use serde_json::{Value, json};

use super::{API_VERSION, Connection, ConnectionKind};

/// An ApiCredential as a user writes it.
#[derive(Debug, Clone)]
pub struct CredentialManifest {
    name: String,
    namespace: Option<String>,
    spec: Value,
}

impl CredentialManifest {
    /// An ApiCredential `name` with an empty spec (its connection: the cluster's `default`).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            namespace: None,
            spec: json!({}),
        }
    }

    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// `spec.connectionRef` naming `connection`.
    pub fn connection(mut self, connection: &Connection) -> Self {
        self.spec["connectionRef"] = connection.reference();
        self
    }

    /// `spec.connectionRef` by kind and name.
    pub fn connection_ref(mut self, kind: ConnectionKind, name: &str) -> Self {
        self.spec["connectionRef"] = json!({"kind": kind.as_str(), "name": name});
        self
    }

    /// `spec.name`: the credential's label in Control Hub.
    pub fn label(mut self, label: &str) -> Self {
        self.spec["name"] = label.into();
        self
    }

    /// `spec.userId`: whose credential it is (the connection's own user when unset).
    pub fn user_id(mut self, user_id: &str) -> Self {
        self.spec["userId"] = user_id.into();
        self
    }

    /// `spec.active`.
    pub fn active(mut self, active: bool) -> Self {
        self.spec["active"] = active.into();
        self
    }

    /// `spec.rotation` with an `interval` (e.g. `720h`) and a `strategy` (`Regenerate`, …).
    pub fn rotation_interval(mut self, interval: &str, strategy: &str) -> Self {
        self.spec["rotation"] = json!({"interval": interval, "strategy": strategy});
        self
    }

    /// `spec.secret.name`.
    pub fn secret_name(mut self, name: &str) -> Self {
        self.spec["secret"]["name"] = name.into();
        self
    }

    /// `spec.secret.keys`: the keys of the credential ID and the token.
    pub fn secret_keys(mut self, credential_id: &str, auth_token: &str) -> Self {
        self.spec["secret"]["keys"] = json!({"credentialId": credential_id, "authToken": auth_token});
        self
    }

    /// `spec.deletionPolicy`: `Delete`, `Deactivate` or `Retain`.
    pub fn deletion_policy(mut self, policy: &str) -> Self {
        self.spec["deletionPolicy"] = policy.into();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The object as JSON.
    pub fn json(&self) -> Value {
        let mut metadata = json!({"name": self.name});
        if let Some(namespace) = &self.namespace {
            metadata["namespace"] = namespace.clone().into();
        }
        json!({"apiVersion": API_VERSION, "kind": "ApiCredential", "metadata": metadata, "spec": self.spec})
    }

    /// The object as YAML.
    pub fn yaml(&self) -> String {
        serde_yaml::to_string(&self.json()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_manifest_has_the_fields_a_user_writes() {
        let manifest = CredentialManifest::new("ci-bot")
            .namespace("team-a")
            .connection_ref(ConnectionKind::Namespaced, "controlhub")
            .label("CI bot")
            .user_id("sa@org")
            .rotation_interval("720h", "Regenerate")
            .secret_name("ci-bot-token")
            .secret_keys("id", "token")
            .deletion_policy("Retain")
            .json();
        assert_eq!(manifest["kind"], "ApiCredential");
        assert_eq!(manifest["metadata"]["namespace"], "team-a");
        let spec = &manifest["spec"];
        assert_eq!(spec["connectionRef"]["kind"], "ControlHubConnection");
        assert_eq!(spec["name"], "CI bot");
        assert_eq!(spec["userId"], "sa@org");
        assert_eq!(spec["rotation"]["strategy"], "Regenerate");
        assert_eq!(spec["secret"]["name"], "ci-bot-token");
        assert_eq!(spec["secret"]["keys"]["authToken"], "token");
        assert_eq!(spec["deletionPolicy"], "Retain");
    }
}

//! The connection of a test world: the credentials Secret (an identity's credential ID and token)
//! and the ControlHubConnection or ClusterControlHubConnection naming it, as JSON or YAML, or
//! server-side applied.

use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use super::API_VERSION;
use crate::emulator::Emulator;

/// The name of the connection Secret every world creates (the keys the operator reads).
pub const CONNECTION_SECRET: &str = "controlhub-admin";

/// Which connection kind a [`Connection`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    /// `ControlHubConnection`: in the namespace of its ApiCredentials and of its Secret.
    Namespaced,
    /// `ClusterControlHubConnection`: cluster-wide, its Secret in a named namespace.
    Cluster,
}

impl ConnectionKind {
    /// The kind's name, as `connectionRef.kind` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Namespaced => "ControlHubConnection",
            ConnectionKind::Cluster => "ClusterControlHubConnection",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            ConnectionKind::Namespaced => "controlhubconnections",
            ConnectionKind::Cluster => "clustercontrolhubconnections",
        }
    }
}

/// A connection to Control Hub: the credentials Secret and the connection object. Built for an
/// emulator's org admin; every option of the connection's spec the worlds use can be set.
#[derive(Clone)]
pub struct Connection {
    kind: ConnectionKind,
    name: String,
    /// The Secret's namespace (and the connection's, when namespaced).
    namespace: String,
    secret_name: String,
    url: String,
    credential_id: String,
    auth_token: String,
    allowed_user_ids: Option<Vec<String>>,
    rate_limit: Option<(f64, u32)>,
    max_concurrent_requests: Option<u32>,
    share_connection_identity: Option<bool>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("url", &self.url)
            .field("credential_id", &self.credential_id)
            .field("auth_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A ControlHubConnection `name` in `namespace` to `emulator`, as its org admin, with its
    /// Secret [`CONNECTION_SECRET`] beside it; no other options set (the operator's defaults).
    pub fn namespaced(name: &str, namespace: &str, emulator: &Emulator) -> Self {
        Self::new(ConnectionKind::Namespaced, name, namespace, emulator)
    }

    /// A ClusterControlHubConnection `name` to `emulator`, as its org admin, its Secret
    /// [`CONNECTION_SECRET`] in `secret_namespace`.
    pub fn cluster(name: &str, secret_namespace: &str, emulator: &Emulator) -> Self {
        Self::new(ConnectionKind::Cluster, name, secret_namespace, emulator)
    }

    fn new(kind: ConnectionKind, name: &str, namespace: &str, emulator: &Emulator) -> Self {
        let admin = emulator.admin();
        Self::to_url(kind, name, namespace, emulator.url())
            .credential(&admin.credential_id, &admin.auth_token)
    }

    /// A connection of `kind` to `url`, with no credential yet (see [`Connection::credential`]).
    pub fn to_url(kind: ConnectionKind, name: &str, namespace: &str, url: &str) -> Self {
        Self {
            kind,
            name: name.to_string(),
            namespace: namespace.to_string(),
            secret_name: CONNECTION_SECRET.to_string(),
            url: url.to_string(),
            credential_id: String::new(),
            auth_token: String::new(),
            allowed_user_ids: None,
            rate_limit: None,
            max_concurrent_requests: None,
            share_connection_identity: None,
        }
    }

    /// The Secret's name (default [`CONNECTION_SECRET`]).
    pub fn secret_name(mut self, name: &str) -> Self {
        self.secret_name = name.to_string();
        self
    }

    /// Another identity than the org admin.
    pub fn credential(mut self, credential_id: &str, auth_token: &str) -> Self {
        self.credential_id = credential_id.to_string();
        self.auth_token = auth_token.to_string();
        self
    }

    /// Another URL than the emulator's.
    pub fn url(mut self, url: &str) -> Self {
        self.url = url.to_string();
        self
    }

    /// `spec.allowedUserIds` (`["*"]`: any user).
    pub fn allowed_user_ids<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.allowed_user_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// `spec.rateLimit`.
    pub fn rate_limit(mut self, requests_per_second: f64, burst: u32) -> Self {
        self.rate_limit = Some((requests_per_second, burst));
        self
    }

    /// `spec.maxConcurrentRequests`.
    pub fn max_concurrent_requests(mut self, max: u32) -> Self {
        self.max_concurrent_requests = Some(max);
        self
    }

    /// `spec.shareConnectionIdentity` (cluster connections only).
    pub fn share_connection_identity(mut self, share: bool) -> Self {
        self.share_connection_identity = Some(share);
        self
    }

    pub fn kind(&self) -> ConnectionKind {
        self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `connectionRef` naming this connection.
    pub fn reference(&self) -> Value {
        json!({"kind": self.kind.as_str(), "name": self.name})
    }

    /// The credentials Secret (holds the token: do not print it).
    pub fn secret(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.secret_name, "namespace": self.namespace},
            "stringData": {"credentialId": self.credential_id, "authToken": self.auth_token},
        })
    }

    /// The connection object.
    pub fn manifest(&self) -> Value {
        let mut secret_ref = json!({"name": self.secret_name});
        let mut metadata = json!({"name": self.name});
        match self.kind {
            ConnectionKind::Namespaced => metadata["namespace"] = self.namespace.clone().into(),
            ConnectionKind::Cluster => secret_ref["namespace"] = self.namespace.clone().into(),
        }
        let mut spec = json!({"url": self.url, "credentialsSecretRef": secret_ref});
        if let Some(ids) = &self.allowed_user_ids {
            spec["allowedUserIds"] = json!(ids);
        }
        if let Some(max) = self.max_concurrent_requests {
            spec["maxConcurrentRequests"] = max.into();
        }
        if let Some((requests_per_second, burst)) = self.rate_limit {
            spec["rateLimit"] = json!({"requestsPerSecond": requests_per_second, "burst": burst});
        }
        if let Some(share) = self.share_connection_identity {
            spec["shareConnectionIdentity"] = share.into();
        }
        json!({"apiVersion": API_VERSION, "kind": self.kind.as_str(), "metadata": metadata, "spec": spec})
    }

    /// The Secret and the connection as one multi-document YAML (holds the token).
    pub fn yaml(&self) -> String {
        [self.secret(), self.manifest()]
            .iter()
            .map(|doc| serde_yaml::to_string(doc).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("---\n")
    }

    /// Server-side applies the Secret, then the connection, as field manager `manager`.
    pub async fn apply(&self, client: &kube::Client, manager: &str) -> Result<(), kube::Error> {
        let params = PatchParams::apply(manager).force();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &self.namespace);
        secrets
            .patch(&self.secret_name, &params, &Patch::Apply(&self.secret()))
            .await?;
        let gvk = GroupVersionKind::gvk("controlhub.dev", "v1alpha1", self.kind.as_str());
        let resource = ApiResource::from_gvk_with_plural(&gvk, self.kind.plural());
        let api: Api<DynamicObject> = match self.kind {
            ConnectionKind::Namespaced => Api::namespaced_with(client.clone(), &self.namespace, &resource),
            ConnectionKind::Cluster => Api::all_with(client.clone(), &resource),
        };
        api.patch(&self.name, &params, &Patch::Apply(&self.manifest()))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_connection_names_its_secrets_namespace_and_hides_the_token() {
        let connection = Connection::to_url(
            ConnectionKind::Cluster,
            "default",
            "controlhub-system",
            "http://127.0.0.1:1",
        )
        .credential("cred-id", "very-secret-token")
        .allowed_user_ids(["*"])
        .rate_limit(200.0, 200)
        .share_connection_identity(true);
        let manifest = connection.manifest();
        assert_eq!(manifest["kind"], "ClusterControlHubConnection");
        assert!(manifest["metadata"].get("namespace").is_none());
        let spec = &manifest["spec"];
        assert_eq!(spec["credentialsSecretRef"]["namespace"], "controlhub-system");
        assert_eq!(spec["allowedUserIds"], json!(["*"]));
        assert_eq!(spec["rateLimit"]["burst"], 200);
        assert_eq!(spec["shareConnectionIdentity"], true);
        assert_eq!(connection.secret()["metadata"]["namespace"], "controlhub-system");
        assert!(connection.yaml().contains("very-secret-token"));
        assert!(!format!("{connection:?}").contains("very-secret-token"));

        let namespaced = Connection::to_url(ConnectionKind::Namespaced, "c", "ns", "http://x").manifest();
        assert_eq!(namespaced["metadata"]["namespace"], "ns");
        assert!(
            namespaced["spec"]["credentialsSecretRef"]
                .get("namespace")
                .is_none()
        );
        assert!(
            namespaced["spec"].get("rateLimit").is_none(),
            "unset options are left to the operator"
        );
    }
}

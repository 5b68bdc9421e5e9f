//! One test world, built the same way by the e2e `Env`, the operator benchmark's `Lab` and
//! `controlhub-dev` (`make dev-up`, `make demo`): a [`Connection`] to a Control Hub emulator (the
//! Secret with an identity's credential plus a ControlHubConnection or ClusterControlHubConnection
//! manifest), an [`OperatorLauncher`] (the operator's command line and its spawn with a log file),
//! and [`CredentialManifest`], an ApiCredential as a user writes it.
//!
//! Manifests are `serde_json::Value`s (YAML on request) so that this crate never depends on the
//! operator's types. The connection Secret holds a token: [`Connection`]'s `Debug` hides it, and
//! nothing here prints a manifest.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use crate::emulator::Emulator;
use crate::process::{self, Child, Output};

/// The API group and version of the operator's kinds.
pub const API_VERSION: &str = "controlhub.dev/v1alpha1";
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

/// The operator's command line, and its spawn as a [`Child`] logging to a file.
///
/// [`OperatorLauncher::new`] sets the flags every world shares: `run`, no leader election, and
/// `/metrics` and health endpoints on free loopback ports ([`process::free_port`]).
#[derive(Debug, Clone)]
pub struct OperatorLauncher {
    binary: PathBuf,
    kubeconfig: PathBuf,
    /// `--flag=value` arguments after `run`, in order.
    flags: Vec<String>,
    envs: Vec<(String, String)>,
    rust_log: String,
}

impl OperatorLauncher {
    pub fn new(binary: impl Into<PathBuf>, kubeconfig: impl Into<PathBuf>) -> Self {
        let launcher = Self {
            binary: binary.into(),
            kubeconfig: kubeconfig.into(),
            flags: Vec::new(),
            envs: Vec::new(),
            rust_log: "controlhub_operator=info,warn".to_string(),
        };
        launcher.flag("leader-election", "false").fresh_ports()
    }

    /// `--watch-namespace`: the operator sees only `namespace`.
    pub fn watch_namespace(self, namespace: &str) -> Self {
        self.flag("watch-namespace", namespace)
    }

    /// `--namespaced-connection-allow-http=true`: namespaced connections may reach the emulator
    /// over `http://127.0.0.1`.
    pub fn allow_http_for_namespaced_connections(self) -> Self {
        self.flag("namespaced-connection-allow-http", "true")
    }

    /// `--drift-check-interval`.
    pub fn drift_check_interval(self, interval: Duration) -> Self {
        self.flag("drift-check-interval", &duration_flag(interval))
    }

    /// `--token-check-interval`.
    pub fn token_check_interval(self, interval: Duration) -> Self {
        self.flag("token-check-interval", &duration_flag(interval))
    }

    /// `--concurrency`: ApiCredentials reconciled at once.
    pub fn concurrency(self, concurrency: u16) -> Self {
        self.flag("concurrency", &concurrency.to_string())
    }

    /// `--leader-election`.
    pub fn leader_election(self, on: bool) -> Self {
        self.flag("leader-election", if on { "true" } else { "false" })
    }

    /// New free ports for `--metrics-addr` and `--health-addr` (for another replica).
    pub fn fresh_ports(mut self) -> Self {
        self.set_arg("metrics-addr", &format!("127.0.0.1:{}", process::free_port()));
        self.set_arg("health-addr", &format!("127.0.0.1:{}", process::free_port()));
        self
    }

    /// `--<flag>=<value>`, replacing an earlier value.
    pub fn flag(mut self, flag: &str, value: &str) -> Self {
        self.set_arg(flag, value);
        self
    }

    /// Sets `--<flag>=<value>`, replacing an earlier value.
    pub fn set_arg(&mut self, flag: &str, value: &str) {
        let prefix = format!("--{flag}=");
        self.flags.retain(|a| !a.starts_with(&prefix));
        self.flags.push(format!("{prefix}{value}"));
    }

    /// The value of `--<flag>=<value>`.
    pub fn arg(&self, flag: &str) -> Option<String> {
        let prefix = format!("--{flag}=");
        self.flags
            .iter()
            .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
    }

    /// The whole command line after the binary.
    pub fn args(&self) -> Vec<String> {
        std::iter::once("run".to_string())
            .chain(self.flags.iter().cloned())
            .collect()
    }

    /// The `/metrics` address.
    pub fn metrics_addr(&self) -> String {
        self.arg("metrics-addr").unwrap_or_default()
    }

    /// The `/healthz` and `/readyz` address.
    pub fn health_addr(&self) -> String {
        self.arg("health-addr").unwrap_or_default()
    }

    /// The `RUST_LOG` filter (default `controlhub_operator=info,warn`).
    pub fn rust_log(mut self, filter: &str) -> Self {
        self.rust_log = filter.to_string();
        self
    }

    /// Extra environment (replacing earlier extra environment).
    pub fn set_envs(&mut self, envs: &[(String, String)]) {
        self.envs = envs.to_vec();
    }

    pub fn envs(&self) -> &[(String, String)] {
        &self.envs
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Spawns the operator, its stdout and stderr appended to `log`. The child dies with the
    /// spawning thread (see [`process::spawn`]).
    pub fn spawn(&self, log: &Path) -> std::io::Result<Child> {
        if !self.binary.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} is missing: run `cargo build --workspace --bins`",
                    self.binary.display()
                ),
            ));
        }
        let mut cmd = Command::new(&self.binary);
        cmd.args(self.args())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", &self.rust_log);
        for (key, value) in &self.envs {
            cmd.env(key, value);
        }
        process::spawn("controlhub-operator", cmd, Output::Log(log.to_path_buf()))
    }
}

/// A duration as the operator's flags take it: whole seconds as `3s`, else milliseconds.
fn duration_flag(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launcher() -> OperatorLauncher {
        OperatorLauncher::new("/bin/controlhub-operator", "/tmp/kubeconfig")
    }

    #[test]
    fn the_launcher_sets_the_common_flags_once_each() {
        let launcher = launcher()
            .watch_namespace("ns-a")
            .drift_check_interval(Duration::from_secs(3))
            .token_check_interval(Duration::from_millis(1500))
            .allow_http_for_namespaced_connections()
            .leader_election(true);
        let args = launcher.args();
        assert_eq!(args[0], "run");
        assert_eq!(launcher.arg("watch-namespace").as_deref(), Some("ns-a"));
        assert_eq!(launcher.arg("drift-check-interval").as_deref(), Some("3s"));
        assert_eq!(launcher.arg("token-check-interval").as_deref(), Some("1500ms"));
        assert_eq!(launcher.arg("leader-election").as_deref(), Some("true"));
        assert_eq!(
            args.iter()
                .filter(|a| a.starts_with("--leader-election="))
                .count(),
            1,
            "a flag set again replaces the earlier value: {args:?}"
        );
        assert!(launcher.metrics_addr().starts_with("127.0.0.1:"));
        assert_ne!(launcher.metrics_addr(), launcher.health_addr());
    }

    #[test]
    fn fresh_ports_change_both_addresses() {
        let first = launcher();
        let second = first.clone().fresh_ports();
        assert_ne!(first.metrics_addr(), second.metrics_addr());
        assert_ne!(first.health_addr(), second.health_addr());
    }

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

    #[test]
    fn duration_flags_are_humantime() {
        assert_eq!(duration_flag(Duration::from_secs(3600)), "3600s");
        assert_eq!(duration_flag(Duration::from_millis(250)), "250ms");
    }
}

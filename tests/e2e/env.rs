//! One test's world: its own namespace, its own Control Hub emulator, a ControlHubConnection to
//! it, and its own operator process (the real binary, watching only that namespace). Helpers read
//! like the user story: `env.apply(yaml)`, `env.wait_ready(name)`, `env.assert_token_works(secret)`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use controlhub_operator::api::{ApiCredential, ConditionType};
use controlhub_operator::crdgen;
use controlhub_testkit::emulator::{Emulator, EmulatorOptions};
use controlhub_testkit::process::Child;
use controlhub_testkit::world::{Connection, OperatorLauncher};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use tokio::sync::OnceCell;

use crate::support::{TestNamespace, eventually, plane};

pub const CONNECTION: &str = "controlhub";
pub const WAIT: Duration = Duration::from_secs(60);
/// Names the emulator profile (`default`, `strict`) of every test that does not choose one.
pub const PROFILE_ENV: &str = "E2E_EMULATOR_PROFILE";

/// Installs the CRDs (exactly the generated ones) once per test run.
pub async fn install_crds() {
    static DONE: OnceCell<()> = OnceCell::const_new();
    DONE.get_or_init(|| async {
        let client = plane().client().await;
        let api: Api<CustomResourceDefinition> = Api::all(client);
        for crd in crdgen::crds() {
            let name = crd.metadata.name.clone().expect("generated CRDs are named");
            api.patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("installing CRD {name}: {e}"));
            eventually(&format!("CRD {name} to be Established"), WAIT, || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.ok()?;
                    let conds = crd.status?.conditions?;
                    conds
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            })
            .await;
        }
    })
    .await;
}

/// The operator, as a child process.
pub struct Operator {
    child: Option<Child>,
    launcher: OperatorLauncher,
    log: PathBuf,
}

impl Operator {
    fn spawn(launcher: &OperatorLauncher, log: &std::path::Path) -> Child {
        launcher.spawn(log).expect("starting the operator")
    }

    /// Kills the operator with SIGKILL (no shutdown code runs).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Starts it again with the same arguments and `envs` (replacing the previous extra envs).
    pub fn restart_with(&mut self, envs: &[(String, String)]) {
        self.kill();
        self.launcher.set_envs(envs);
        self.child = Some(Self::spawn(&self.launcher, &self.log));
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().is_none())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A test's namespace, emulator, connection and operator.
pub struct Env {
    pub ns: TestNamespace,
    pub emulator: Emulator,
    pub operator: Operator,
    pub dir: PathBuf,
    /// The emulator profile it was started with (`None`: the emulator's default).
    pub profile: Option<String>,
}

/// Options for [`Env::start`].
#[derive(Default)]
pub struct EnvOptions {
    /// Extra environment for the operator (pause points, for example).
    pub operator_env: Vec<(String, String)>,
    /// Start without an operator (call `env.operator.restart_with` later).
    pub no_operator: bool,
    /// The emulator persists its state here (to survive its own restarts).
    pub emulator_state: bool,
    /// allowedUserIds of the connection.
    pub allowed_user_ids: Vec<String>,
    /// The emulator's `--profile` (e.g. `strict`); unset: `$E2E_EMULATOR_PROFILE`, else none.
    pub emulator_profile: Option<String>,
}

impl Env {
    pub async fn start(prefix: &str) -> Env {
        Env::start_with(
            prefix,
            EnvOptions {
                allowed_user_ids: vec!["*".into()],
                ..Default::default()
            },
        )
        .await
    }

    pub async fn start_with(prefix: &str, options: EnvOptions) -> Env {
        install_crds().await;
        let ns = TestNamespace::create(prefix).await;
        let dir = controlhub_testkit::process::workspace_root()
            .join("target/test-logs/e2e")
            .join(&ns.name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut emulator_options = EmulatorOptions::new();
        if options.emulator_state {
            emulator_options = emulator_options.state_file(dir.join("emulator-state.json"));
        }
        let profile = options
            .emulator_profile
            .clone()
            .or_else(|| std::env::var(PROFILE_ENV).ok())
            .filter(|p| !p.trim().is_empty());
        let profile = profile.map(|p| p.trim().to_string());
        if let Some(profile) = &profile {
            emulator_options = emulator_options.profile(profile);
        }
        let emulator = emulator_options.start();

        // The connection: a Secret with the org admin's credential, and a ControlHubConnection.
        Connection::namespaced(CONNECTION, &ns.name, &emulator)
            .allowed_user_ids(options.allowed_user_ids)
            .rate_limit(200.0, 200)
            .apply(&ns.client, "e2e")
            .await
            .expect("applying the connection Secret and ControlHubConnection");

        let mut launcher =
            OperatorLauncher::new(env!("CARGO_BIN_EXE_controlhub-operator"), &plane().kubeconfig)
                .watch_namespace(&ns.name)
                .drift_check_interval(Duration::from_secs(3))
                .token_check_interval(Duration::from_secs(2))
                // The test's ControlHubConnection reaches its emulator over http://127.0.0.1.
                .allow_http_for_namespaced_connections()
                .rust_log("controlhub_operator=debug,warn");
        launcher.set_envs(&options.operator_env);
        let log = dir.join("operator.log");
        let child = (!options.no_operator).then(|| Operator::spawn(&launcher, &log));
        let operator = Operator { child, launcher, log };
        Env {
            ns,
            emulator,
            operator,
            dir,
            profile,
        }
    }

    pub fn credentials(&self) -> Api<ApiCredential> {
        self.ns.api()
    }

    pub fn secrets(&self) -> Api<Secret> {
        self.ns.api()
    }

    /// Server-side applies an ApiCredential given as YAML (namespace and connectionRef filled in
    /// when absent).
    pub async fn apply(&self, yaml: &str) -> ApiCredential {
        let mut value: serde_json::Value = serde_yaml::from_str(yaml).expect("test YAML parses");
        value["metadata"]["namespace"] = self.ns.name.clone().into();
        if value["spec"].get("connectionRef").is_none() {
            value["spec"]["connectionRef"] =
                serde_json::json!({"kind": "ControlHubConnection", "name": CONNECTION});
        }
        let name = value["metadata"]["name"].as_str().expect("named").to_string();
        self.credentials()
            .patch(
                &name,
                &PatchParams::apply("e2e-user").force(),
                &Patch::Apply(&value),
            )
            .await
            .unwrap_or_else(|e| panic!("applying ApiCredential {name}: {e}"))
    }

    /// Sets (or changes) an annotation on an ApiCredential.
    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.credentials()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    pub async fn delete(&self, name: &str) {
        self.credentials()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    pub async fn wait_gone(&self, name: &str) {
        let api = self.credentials();
        eventually(&format!("ApiCredential {name} to be deleted"), WAIT, || {
            let api = api.clone();
            async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) }
        })
        .await;
    }

    /// Waits for the ApiCredential to satisfy `check`.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&ApiCredential) -> bool,
    ) -> ApiCredential {
        let api = self.credentials();
        let check = &check;
        eventually(&format!("{name}: {what}"), WAIT, || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok().flatten().filter(|c| check(c)) }
        })
        .await
    }

    /// Waits until the object is Current in kstatus terms: Ready=True for the current generation,
    /// not Reconciling (Control Hub matches the spec), no rotation under way.
    pub async fn wait_ready(&self, name: &str) -> ApiCredential {
        self.wait_for(name, "Ready=True at the current generation", |c| {
            condition(c, ConditionType::Ready).is_some_and(|(status, _, _)| status == "True")
                && condition(c, ConditionType::Reconciling).is_none_or(|(status, _, _)| status != "True")
                && c.status.as_ref().and_then(|s| s.observed_generation) == c.metadata.generation
                && c.status
                    .as_ref()
                    .is_some_and(|s| s.rotation_in_progress.is_none())
        })
        .await
    }

    /// Waits until the Ready condition has `reason`.
    pub async fn wait_reason(&self, name: &str, reason: &str) -> ApiCredential {
        self.wait_for(name, &format!("Ready reason {reason}"), |c| {
            condition(c, ConditionType::Ready).is_some_and(|(_, r, _)| r == reason)
        })
        .await
    }

    /// The credential ID and token in Secret `name` (the token is never printed).
    pub async fn secret_credential(&self, name: &str) -> (String, String) {
        let secret = self
            .secrets()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("reading Secret {name}: {e}"));
        let data = secret.data.expect("the Secret has data");
        let text = |k: &str| {
            String::from_utf8(
                data.get(k)
                    .unwrap_or_else(|| panic!("Secret {name} lacks key {k}"))
                    .0
                    .clone(),
            )
            .unwrap()
        };
        (text("credentialId"), text("authToken"))
    }

    /// HTTP status of `GET /security/rest/v1/currentUser` with this credential (the seed's curl example).
    pub async fn token_status(&self, id: &str, token: &str) -> u16 {
        self.emulator.current_user_status(id, token).await
    }

    /// The token in Secret `name` authenticates against Control Hub.
    pub async fn assert_token_works(&self, name: &str) -> (String, String) {
        let (id, token) = self.secret_credential(name).await;
        let status = self.token_status(&id, &token).await;
        assert_eq!(
            status, 200,
            "the token in Secret {name} (credential {id}) must authenticate; got HTTP {status}"
        );
        (id, token)
    }

    /// Credentials in Control Hub (org-wide), as (id, label, owner, active).
    pub async fn controlhub_credentials(&self) -> Vec<(String, String, String, bool)> {
        let path = format!(
            "/security/rest/v1/organization/{}/api-user-credentials-for-org",
            self.emulator.org_id()
        );
        let (status, body) = self
            .emulator
            .admin_request(reqwest::Method::GET, &path, None)
            .await;
        assert_eq!(status, 200, "listing the org's credentials: {body}");
        body.as_array()
            .expect("a JSON array")
            .iter()
            .map(|c| {
                (
                    c["componentId"].as_str().unwrap_or_default().to_string(),
                    c["label"].as_str().unwrap_or_default().to_string(),
                    c["userId"].as_str().unwrap_or_default().to_string(),
                    c["active"].as_bool().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Credentials in Control Hub other than the admin's bootstrap credential.
    pub async fn managed_credentials(&self) -> Vec<(String, String, String, bool)> {
        let admin = self.emulator.admin().credential_id.clone();
        self.controlhub_credentials()
            .await
            .into_iter()
            .filter(|c| c.0 != admin)
            .collect()
    }

    /// Events of the object, as "reason: message".
    pub async fn events_of(&self, name: &str) -> Vec<String> {
        let api: Api<k8s_openapi::api::events::v1::Event> = self.ns.api();
        let list = api.list(&Default::default()).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| format!("{}: {}", e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }
}

/// (status, reason, message) of a condition.
pub fn condition(c: &ApiCredential, type_: ConditionType) -> Option<(String, String, String)> {
    let status = c.status.as_ref()?;
    let cond = status.conditions.iter().find(|x| x.type_ == type_.as_str())?;
    Some((cond.status.clone(), cond.reason.clone(), cond.message.clone()))
}

async fn apply_json(ns: &TestNamespace, plural: &str, value: &serde_json::Value) {
    let gvk =
        kube::core::GroupVersionKind::gvk("controlhub.dev", "v1alpha1", value["kind"].as_str().unwrap());
    let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<kube::core::DynamicObject> = Api::namespaced_with(ns.client.clone(), &ns.name, &ar);
    let name = value["metadata"]["name"].as_str().unwrap();
    api.patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(value))
        .await
        .unwrap_or_else(|e| panic!("applying {plural}/{name}: {e}"));
}

// ---- Helpers for the crash, connection, RBAC, leak and kubectl stories (appended). ----

impl Operator {
    /// The value of `--<flag>=<value>` among the operator's arguments.
    pub fn arg(&self, flag: &str) -> Option<String> {
        self.launcher.arg(flag)
    }

    /// Sets `--<flag>=<value>`, replacing an earlier value; takes effect at the next (re)start.
    pub fn set_arg(&mut self, flag: &str, value: &str) {
        self.launcher.set_arg(flag, value);
    }

    /// The address the operator serves `/metrics` on.
    pub fn metrics_addr(&self) -> String {
        self.arg("metrics-addr")
            .expect("the operator is started with --metrics-addr")
    }
}

impl Env {
    /// The operator's `/metrics` text (OpenMetrics).
    pub async fn scrape_metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.operator.metrics_addr());
        let response = reqwest::get(&url)
            .await
            .unwrap_or_else(|e| panic!("scraping {url}: {e}"));
        assert!(
            response.status().is_success(),
            "GET {url}: HTTP {}",
            response.status()
        );
        response.text().await.expect("the metrics body is text")
    }

    /// Waits until the operator wrote `file`: it stopped at a pause point.
    pub async fn wait_paused(&self, file: &std::path::Path) -> String {
        eventually(
            &format!("the operator to stop at its pause point ({})", file.display()),
            WAIT,
            || async move { std::fs::read_to_string(file).ok().filter(|s| !s.is_empty()) },
        )
        .await
    }

    /// Server-side applies a namespaced controlhub.dev object given as JSON (namespace filled in).
    pub async fn apply_object(&self, plural: &str, mut value: serde_json::Value) {
        value["metadata"]["namespace"] = self.ns.name.clone().into();
        apply_json(&self.ns, plural, &value).await;
    }

    /// Creates (or replaces) a Secret with a Control Hub credential, as a connection's credentials.
    pub async fn put_connection_secret(&self, name: &str, credential_id: &str, auth_token: &str) {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.ns.name},
            "stringData": {"credentialId": credential_id, "authToken": auth_token}
        }))
        .expect("a Secret");
        self.secrets()
            .patch(
                name,
                &PatchParams::apply("e2e-user").force(),
                &Patch::Apply(&secret),
            )
            .await
            .unwrap_or_else(|e| panic!("writing Secret {name}: {e}"));
    }

    /// A ControlHubConnection named `name` to this test's emulator, reading credentials from
    /// Secret `secret` (which need not exist).
    pub async fn apply_connection(&self, name: &str, secret: &str) {
        let connection = Connection::namespaced(name, &self.ns.name, &self.emulator)
            .secret_name(secret)
            .rate_limit(200.0, 200);
        self.apply_object("controlhubconnections", connection.manifest())
            .await;
    }

    /// Waits until ControlHubConnection `name` has a Ready condition with `reason`.
    pub async fn wait_connection_reason(
        &self,
        name: &str,
        reason: &str,
    ) -> controlhub_operator::api::ControlHubConnection {
        let api: Api<controlhub_operator::api::ControlHubConnection> = self.ns.api();
        eventually(
            &format!("ControlHubConnection {name}: Ready reason {reason}"),
            WAIT,
            || {
                let api = api.clone();
                async move {
                    let c = api.get_opt(name).await.ok().flatten()?;
                    let status = c.status.as_ref()?;
                    let ready = status
                        .conditions
                        .iter()
                        .find(|x| x.type_ == ConditionType::Ready.as_str())?;
                    (ready.reason == reason).then_some(c)
                }
            },
        )
        .await
    }

    /// Runs `kubectl` with the admin kubeconfig; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = plane().kubectl().args(args).output().expect("running kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Every Event in the namespace, as JSON (both the events.k8s.io and core views).
    pub async fn all_events_json(&self) -> String {
        let api: Api<k8s_openapi::api::events::v1::Event> = self.ns.api();
        let list = api.list(&Default::default()).await.expect("listing Events");
        serde_json::to_string(&list.items).expect("Events serialize")
    }
}

// ---- Helpers for the drift, quota, rotation, Secret, restart, service-account and deletion stories (appended). ----

impl Env {
    fn credentials_path(&self) -> String {
        format!(
            "/security/rest/v1/organization/{}/api-user-credentials",
            self.emulator.org_id()
        )
    }

    /// Creates a credential for the org admin through Control Hub's API, as a person would in the
    /// UI; returns its ID (the token is dropped).
    pub async fn create_in_controlhub(&self, label: &str) -> String {
        let body =
            serde_json::json!({"label": label, "generateAuthToken": true, "active": true, "userId": null});
        let (status, value) = self
            .emulator
            .admin_request(reqwest::Method::POST, &self.credentials_path(), Some(&body))
            .await;
        assert_eq!(
            status,
            200,
            "creating {label:?} in Control Hub: {:?}",
            value.get("ISSUES")
        );
        value["componentId"]
            .as_str()
            .expect("the created credential has a componentId")
            .to_string()
    }

    /// Changes a credential by hand as the org admin (`POST …/api-user-credentials/{id}`): rename,
    /// (de)activate, or regenerate with `generateAuthToken: true` (the new token is dropped).
    pub async fn update_in_controlhub(&self, id: &str, body: serde_json::Value) {
        let path = format!("{}/{id}", self.credentials_path());
        let (status, value) = self
            .emulator
            .admin_request(reqwest::Method::POST, &path, Some(&body))
            .await;
        assert_eq!(
            status,
            200,
            "updating credential {id} in Control Hub: {:?}",
            value.get("ISSUES")
        );
    }

    /// Deletes a credential by hand as the org admin.
    pub async fn delete_in_controlhub(&self, id: &str) {
        let path = format!("{}/{id}", self.credentials_path());
        let (status, value) = self
            .emulator
            .admin_request(reqwest::Method::DELETE, &path, None)
            .await;
        assert_eq!(
            status,
            200,
            "deleting credential {id} in Control Hub: {:?}",
            value.get("ISSUES")
        );
    }

    /// A credential as Control Hub lists it org-wide (`authToken` is always null there), if it exists.
    pub async fn controlhub_credential(&self, id: &str) -> Option<serde_json::Value> {
        let path = format!(
            "/security/rest/v1/organization/{}/api-user-credentials-for-org",
            self.emulator.org_id()
        );
        let (status, body) = self
            .emulator
            .admin_request(reqwest::Method::GET, &path, None)
            .await;
        assert_eq!(
            status,
            200,
            "listing the org's credentials: {:?}",
            body.get("ISSUES")
        );
        body.as_array()?
            .iter()
            .find(|c| c["componentId"].as_str() == Some(id))
            .cloned()
    }

    /// `GET currentUser` with a credential: the HTTP status and the principal it authenticates as.
    pub async fn principal_of(&self, id: &str, token: &str) -> (u16, Option<String>) {
        self.emulator.current_user(id, token).await
    }

    /// Waits for an Event with `reason` on object `name`; returns its (type, note).
    pub async fn wait_event(&self, name: &str, reason: &str) -> (String, String) {
        let api: Api<k8s_openapi::api::events::v1::Event> = self.ns.api();
        eventually(&format!("an Event {reason} on {name}"), WAIT, || {
            let api = api.clone();
            async move {
                let list = api.list(&Default::default()).await.ok()?;
                list.items.into_iter().find_map(|e| {
                    let about = e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name);
                    (about && e.reason.as_deref() == Some(reason))
                        .then(|| (e.type_.unwrap_or_default(), e.note.unwrap_or_default()))
                })
            }
        })
        .await
    }

    /// The Ready and Stalled conditions' (status, reason, message), once Ready has `reason`.
    pub async fn wait_blocked(
        &self,
        name: &str,
        reason: &str,
    ) -> ((String, String, String), Option<(String, String, String)>) {
        let cred = self.wait_reason(name, reason).await;
        let ready = condition(&cred, ConditionType::Ready).expect("a Ready condition");
        (ready, condition(&cred, ConditionType::Stalled))
    }
}

/// Server-side applies a namespaced controlhub.dev object (given as JSON) in namespace `ns`.
pub async fn apply_in(ns: &TestNamespace, plural: &str, mut value: serde_json::Value) {
    value["metadata"]["namespace"] = ns.name.clone().into();
    apply_json(ns, plural, &value).await;
}

// ---- Helpers for the time and tenant stories (appended). ----

/// Polls `check` every 200 ms until it returns `Some`, or returns `None` after `timeout`, so the
/// caller can fail with a message that says which promise was broken.
pub async fn within<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Env {
    /// Merge-patches the status subresource of ApiCredential `name` (the test takes over the
    /// fields it sets from the operator's field manager until the operator writes them again).
    pub async fn patch_credential_status(&self, name: &str, status: serde_json::Value) {
        let patch = serde_json::json!({ "status": status });
        self.credentials()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patching the status of ApiCredential {name}: {e}"));
    }

    /// Moves `status.lastRotationTime` of `name` `by` into the past (time passes without waiting);
    /// returns (the time it had, the time it has now). Call [`Env::poke`] afterwards.
    pub async fn backdate_last_rotation(
        &self,
        name: &str,
        by: chrono::Duration,
    ) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        let cred = self.credentials().get(name).await.unwrap();
        let before = cred
            .status
            .and_then(|s| s.last_rotation_time)
            .unwrap_or_else(|| panic!("{name} has no status.lastRotationTime to backdate"));
        let backdated = before - by;
        self.patch_credential_status(
            name,
            serde_json::json!({ "lastRotationTime": backdated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) }),
        )
        .await;
        (before, backdated)
    }

    /// Ends the grace period of a replaced credential now: `status.retireAt` one minute in the
    /// past. Call [`Env::poke`] afterwards.
    pub async fn expire_grace(&self, name: &str) {
        let past = chrono::Utc::now() - chrono::Duration::minutes(1);
        self.patch_credential_status(
            name,
            serde_json::json!({ "retireAt": past.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) }),
        )
        .await;
    }

    /// Triggers a reconcile of `name` by giving the harmless `controlhub.dev/refresh` annotation a
    /// new value; returns that value.
    pub async fn poke(&self, name: &str) -> String {
        let value = format!("{:016x}", rand::random::<u64>());
        self.annotate(name, controlhub_operator::api::REFRESH_ANNOTATION, &value)
            .await;
        value
    }

    /// Starts an Env whose operator stops forever at pause point `point` (see
    /// `src/controller/failpoint.rs`); returns it with the file the operator writes there.
    pub async fn start_paused(prefix: &str, point: &str) -> (Env, PathBuf) {
        let file =
            std::env::temp_dir().join(format!("controlhub-pause-{prefix}-{:08x}", rand::random::<u32>()));
        let _ = std::fs::remove_file(&file);
        let env = Env::start_with(
            prefix,
            EnvOptions {
                allowed_user_ids: vec!["*".into()],
                operator_env: vec![
                    ("CONTROLHUB_PAUSE_AT".into(), point.into()),
                    ("CONTROLHUB_PAUSE_FILE".into(), file.display().to_string()),
                ],
                ..Default::default()
            },
        )
        .await;
        (env, file)
    }

    /// A tenant of this namespace: a user with only the built-in `edit` ClusterRole bound here
    /// (ApiCredential and ControlHubConnection rights reach `edit` through the aggregated
    /// ClusterRole `controlhub-e2e-aggregate-edit`; until the harness runs the
    /// clusterrole-aggregation controller, a Role in the namespace grants the same rights, plus
    /// the Secrets rights `edit` aggregates).
    pub async fn tenant(&self) -> Tenant {
        let user = format!("tenant@{}", self.ns.name);
        let rules = serde_json::json!([{
            "apiGroups": ["controlhub.dev"],
            "resources": ["apicredentials", "controlhubconnections"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]
        }]);
        let admin = self.ns.client.clone();
        let aggregate: k8s_openapi::api::rbac::v1::ClusterRole = serde_json::from_value(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": "controlhub-e2e-aggregate-edit",
                "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}
            },
            "rules": rules
        }))
        .unwrap();
        Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(admin.clone())
            .patch(
                "controlhub-e2e-aggregate-edit",
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&aggregate),
            )
            .await
            .expect("applying the aggregated ClusterRole");
        // Without the clusterrole-aggregation controller `edit` has no rules at all, so the Role
        // also grants what `edit` aggregates from `system:aggregate-to-edit` for these stories:
        // Secrets.
        let mut role_rules = rules.as_array().cloned().unwrap_or_default();
        role_rules.push(serde_json::json!({
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]
        }));
        let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "controlhub-tenant", "namespace": self.ns.name},
            "rules": role_rules
        }))
        .unwrap();
        self.ns
            .api::<k8s_openapi::api::rbac::v1::Role>()
            .patch(
                "controlhub-tenant",
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&role),
            )
            .await
            .expect("applying the tenant Role");
        for (binding, kind, role_name) in [
            ("tenant-edit", "ClusterRole", "edit"),
            ("tenant-controlhub", "Role", "controlhub-tenant"),
        ] {
            let rb: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": binding, "namespace": self.ns.name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
            }))
            .unwrap();
            self.ns
                .api::<k8s_openapi::api::rbac::v1::RoleBinding>()
                .patch(binding, &PatchParams::apply("e2e").force(), &Patch::Apply(&rb))
                .await
                .unwrap_or_else(|e| panic!("binding {role_name} to the tenant: {e}"));
        }
        let client = plane().impersonating(&user, &["system:authenticated"]).await;
        let tenant = Tenant {
            user,
            ns: self.ns.name.clone(),
            client,
        };
        // RBAC is read from an informer: wait until the tenant may read ApiCredentials here.
        let api = tenant.credentials();
        eventually("the tenant's RBAC to take effect", WAIT, || {
            let api = api.clone();
            async move { api.list(&Default::default()).await.ok().map(|_| ()) }
        })
        .await;
        tenant
    }
}

/// A namespace's tenant (see [`Env::tenant`]): every write through its own impersonating client.
pub struct Tenant {
    pub user: String,
    pub ns: String,
    pub client: kube::Client,
}

impl Tenant {
    pub fn credentials(&self) -> Api<ApiCredential> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Server-side applies an ApiCredential given as YAML as the tenant (namespace and the
    /// namespace's connection filled in when absent); returns the API server's answer.
    pub async fn try_apply(&self, yaml: &str) -> Result<ApiCredential, kube::Error> {
        let mut value: serde_json::Value = serde_yaml::from_str(yaml).expect("test YAML parses");
        value["metadata"]["namespace"] = self.ns.clone().into();
        if value["spec"].get("connectionRef").is_none() {
            value["spec"]["connectionRef"] =
                serde_json::json!({"kind": "ControlHubConnection", "name": CONNECTION});
        }
        let name = value["metadata"]["name"].as_str().expect("named").to_string();
        self.credentials()
            .patch(
                &name,
                &PatchParams::apply("e2e-tenant").force(),
                &Patch::Apply(&value),
            )
            .await
    }

    /// Like [`Tenant::try_apply`], panicking when the API server refuses.
    pub async fn apply(&self, yaml: &str) -> ApiCredential {
        self.try_apply(yaml)
            .await
            .unwrap_or_else(|e| panic!("the tenant applying an ApiCredential: {e}"))
    }

    /// Sets an annotation on an ApiCredential as the tenant.
    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.credentials()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("the tenant annotating {name}: {e}"));
    }

    /// Triggers a reconcile as the tenant (a new `controlhub.dev/refresh` value).
    pub async fn poke(&self, name: &str) {
        let value = format!("{:016x}", rand::random::<u64>());
        self.annotate(name, controlhub_operator::api::REFRESH_ANNOTATION, &value)
            .await;
    }

    pub async fn delete(&self, name: &str) {
        self.credentials()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("the tenant deleting {name}: {e}"));
    }
}

// ---- Helpers for the fault, kill and restart stories (appended). ----

/// `E2E_SIZE=full` selects the full size of the fault, kill and restart suites; anything else
/// (or unset) the CI size.
pub fn full_size() -> bool {
    std::env::var("E2E_SIZE").is_ok_and(|v| v == "full")
}

/// Credentials per owner in a [`Fleet`]: with a Replace in flight (one extra) and an orphan of
/// an interrupted create (one more) an owner stays well under Control Hub's quota of 10.
pub const PER_OWNER: usize = 4;

/// One declared ApiCredential of a [`Fleet`].
#[derive(Debug, Clone)]
pub struct Declared {
    /// Owner: `None` is the connection's own user (the org admin).
    pub user_id: Option<String>,
    pub replace: bool,
    /// Bumped by a rename (`spec.name` is `<name> v<version>`).
    pub version: u32,
    /// The last value given to `controlhub.dev/rotate`.
    pub rotate: Option<String>,
    /// Deleted (the object must be gone, its credential too).
    pub deleted: bool,
}

/// What [`Fleet::verify`] found.
#[derive(Debug, Default, Clone)]
pub struct Verified {
    /// ApiCredentials that remain (each has exactly one credential in Control Hub).
    pub live: usize,
    /// Tokens seen in a Secret during the churn that are no longer current: each answered 401.
    pub dead_tokens: usize,
}

/// A set of ApiCredentials over several owners (the org admin and service accounts), driven
/// through creates, renames, rotations and deletions, then checked against Control Hub. Every
/// write retries for a while, so the churn survives an API server or etcd restart.
pub struct Fleet {
    pub owners: Vec<Option<String>>,
    pub creds: std::collections::BTreeMap<String, Declared>,
    /// Every (credential ID, token) ever read from a Secret of the fleet.
    pub seen: std::collections::BTreeSet<(String, String)>,
    rotations: u32,
}

/// Retries `op` for up to 60 s (an API server restart takes a few seconds).
async fn retrying<T, E: std::fmt::Display, Fut>(what: &str, mut op: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

impl Fleet {
    /// Owners for `credentials` ApiCredentials ([`PER_OWNER`] each): the org admin first (its
    /// bootstrap credential takes one slot, so it gets one fewer), then service accounts created
    /// in the emulator.
    pub async fn new(env: &Env, credentials: usize, per_owner: usize) -> Fleet {
        let mut owners = vec![None];
        let mut capacity = per_owner - 1;
        let mut n = 0;
        while capacity < credentials {
            let user = env
                .emulator
                .create_user(
                    &format!("robot-{n}@example.com"),
                    &format!("Robot {n}"),
                    &[],
                    true,
                )
                .await;
            owners.push(Some(user));
            capacity += per_owner;
            n += 1;
        }
        Fleet {
            owners,
            creds: Default::default(),
            seen: Default::default(),
            rotations: 0,
        }
    }

    /// The owner of slot `slot` (the admin holds slots 0..per_owner-1, then per_owner per SA).
    pub fn owner_of_slot(&self, slot: usize, per_owner: usize) -> Option<String> {
        let index = if slot < per_owner - 1 {
            0
        } else {
            1 + (slot - (per_owner - 1)) / per_owner
        };
        self.owners[index.min(self.owners.len() - 1)].clone()
    }

    pub fn yaml(name: &str, d: &Declared) -> String {
        let user = d
            .user_id
            .as_ref()
            .map(|u| format!("  userId: {u}\n"))
            .unwrap_or_default();
        let rotation = if d.replace {
            "  rotation:\n    interval: 720h\n    strategy: Replace\n    gracePeriod: 0s\n"
        } else {
            "  rotation:\n    interval: 720h\n"
        };
        format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: {name}\nspec:\n  name: {}\n{user}{rotation}",
            Self::label(name, d)
        )
    }

    pub fn label(name: &str, d: &Declared) -> String {
        format!("{name} v{}", d.version)
    }

    async fn apply_declared(&self, env: &Env, name: &str) {
        let d = &self.creds[name];
        let mut value: serde_json::Value = serde_yaml::from_str(&Self::yaml(name, d)).unwrap();
        value["metadata"]["namespace"] = env.ns.name.clone().into();
        value["spec"]["connectionRef"] =
            serde_json::json!({"kind": "ControlHubConnection", "name": CONNECTION});
        let api = env.credentials();
        let params = PatchParams::apply("e2e-user").force();
        let patch = Patch::Apply(&value);
        retrying(&format!("applying ApiCredential {name}"), || {
            api.patch(name, &params, &patch)
        })
        .await;
    }

    /// Declares and applies a new ApiCredential.
    pub async fn create(&mut self, env: &Env, name: &str, user_id: Option<String>, replace: bool) {
        self.creds.insert(
            name.to_string(),
            Declared {
                user_id,
                replace,
                version: 0,
                rotate: None,
                deleted: false,
            },
        );
        self.apply_declared(env, name).await;
    }

    /// Changes `spec.name`.
    pub async fn rename(&mut self, env: &Env, name: &str) {
        self.creds.get_mut(name).expect("declared").version += 1;
        self.apply_declared(env, name).await;
    }

    /// Requests a rotation (`controlhub.dev/rotate` with a new value).
    pub async fn rotate(&mut self, env: &Env, name: &str) {
        self.rotations += 1;
        let value = format!("rotate-{}", self.rotations);
        self.creds.get_mut(name).expect("declared").rotate = Some(value.clone());
        let patch = serde_json::json!({"metadata": {"annotations": {controlhub_operator::api::ROTATE_ANNOTATION: value}}});
        let api = env.credentials();
        let params = PatchParams::default();
        let patch = Patch::Merge(&patch);
        retrying(&format!("annotating ApiCredential {name}"), || {
            api.patch(name, &params, &patch)
        })
        .await;
    }

    /// Deletes the ApiCredential (already gone counts as done).
    pub async fn delete(&mut self, env: &Env, name: &str) {
        self.creds.get_mut(name).expect("declared").deleted = true;
        let api = env.credentials();
        retrying(&format!("deleting ApiCredential {name}"), || async {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await;
    }

    /// Live (declared, not deleted) names.
    pub fn live(&self) -> Vec<String> {
        self.creds
            .iter()
            .filter(|(_, d)| !d.deleted)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Reads every Secret of the namespace and remembers the (ID, token) pairs (no Control Hub
    /// call). Errors (an API server restarting) are ignored: the next sample catches up.
    pub async fn sample(&mut self, env: &Env) {
        let Ok(list) = env.secrets().list(&Default::default()).await else {
            return;
        };
        for secret in list.items {
            let name = secret.metadata.name.clone().unwrap_or_default();
            if !self.creds.contains_key(&name) {
                continue;
            }
            let data = secret.data.unwrap_or_default();
            let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).into_owned());
            if let (Some(id), Some(token)) = (text("credentialId"), text("authToken")) {
                self.seen.insert((id, token));
            }
        }
    }

    /// Samples Secrets every 250 ms for `duration`.
    pub async fn sample_for(&mut self, env: &Env, duration: Duration) {
        let end = tokio::time::Instant::now() + duration;
        while tokio::time::Instant::now() < end {
            self.sample(env).await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// What Kubernetes still lacks for the fleet to be converged (`None`: nothing): every live
    /// ApiCredential Ready at its generation with nothing in flight, its last rotation request
    /// acted on and no replaced credential waiting; every deleted one gone.
    pub async fn pending_in_kubernetes(&self, env: &Env) -> Option<String> {
        let list = match env.credentials().list(&Default::default()).await {
            Ok(list) => list,
            Err(e) => return Some(format!("listing ApiCredentials: {e}")),
        };
        let found: std::collections::BTreeMap<String, ApiCredential> = list
            .items
            .into_iter()
            .map(|c| (c.metadata.name.clone().unwrap_or_default(), c))
            .collect();
        let mut waiting = Vec::new();
        for (name, d) in &self.creds {
            let Some(c) = found.get(name) else {
                if !d.deleted {
                    waiting.push(format!("{name}: missing"));
                }
                continue;
            };
            if d.deleted {
                waiting.push(format!("{name}: not gone yet"));
                continue;
            }
            let ready = condition(c, ConditionType::Ready);
            let s = c.status.clone().unwrap_or_default();
            let ok = ready.as_ref().is_some_and(|r| r.0 == "True")
                && condition(c, ConditionType::Reconciling).is_none_or(|r| r.0 != "True")
                && s.observed_generation == c.metadata.generation
                && s.rotation_in_progress.is_none()
                && s.previous_credential_id.is_none()
                && s.credential_id.is_some()
                && (d.rotate.is_none() || s.last_rotation_request == d.rotate);
            if !ok {
                waiting.push(format!("{name}: {:?}", ready.map(|r| (r.1, r.2))));
            }
        }
        (!waiting.is_empty()).then(|| {
            format!(
                "{} not converged, e.g. {:?}",
                waiting.len(),
                &waiting[..waiting.len().min(3)]
            )
        })
    }

    /// What Control Hub lacks for the fleet to be converged (`None`: nothing): exactly one
    /// credential per live ApiCredential — its recorded ID, the declared label and owner — and
    /// nothing else (the org admin's bootstrap credential aside).
    pub async fn pending_in_controlhub(&self, env: &Env) -> Option<String> {
        let managed = env.managed_credentials().await;
        let list = match env.credentials().list(&Default::default()).await {
            Ok(list) => list,
            Err(e) => return Some(format!("listing ApiCredentials: {e}")),
        };
        let mut expected = std::collections::BTreeMap::new();
        for c in list.items {
            let name = c.metadata.name.clone().unwrap_or_default();
            let Some(d) = self.creds.get(&name).filter(|d| !d.deleted) else {
                continue;
            };
            let Some(id) = c.status.and_then(|s| s.credential_id) else {
                return Some(format!("{name}: no credential recorded"));
            };
            let owner = d
                .user_id
                .clone()
                .unwrap_or_else(|| env.emulator.admin().user_id.clone());
            expected.insert(id, (Self::label(&name, d), owner));
        }
        let mut problems = Vec::new();
        for (id, label, owner, _) in &managed {
            match expected.get(id) {
                None => problems.push(format!("extra {id} {label:?} of {owner}")),
                Some((l, o)) if l != label || o != owner => {
                    problems.push(format!("{id} is {label:?} of {owner}, declared {l:?} of {o}"))
                }
                Some(_) => {}
            }
        }
        for id in expected.keys() {
            if !managed.iter().any(|c| &c.0 == id) {
                problems.push(format!("missing {id}"));
            }
        }
        (!problems.is_empty()).then(|| format!("Control Hub: {problems:?}"))
    }

    /// Waits until Kubernetes and then Control Hub show the fleet converged; samples Secrets
    /// meanwhile. Returns how long it took, or panics after `timeout` saying what was missing.
    pub async fn wait_converged(&mut self, env: &Env, timeout: Duration) -> Duration {
        match self.try_converge(env, timeout, true).await {
            Ok(took) => took,
            Err(what) => {
                let dump = self.dump(env).await;
                panic!("the fleet did not converge within {timeout:?}: {what}\n{dump}")
            }
        }
    }

    /// Each ApiCredential's generation, observed generation, recorded and previous credential
    /// and the credential ID in its Secret, for failure messages.
    pub async fn dump(&self, env: &Env) -> String {
        let mut out = String::from(
            "ApiCredentials (generation/observed, status.credentialId, previous, Secret's credentialId):\n",
        );
        let Ok(list) = env.credentials().list(&Default::default()).await else {
            return out;
        };
        for c in list.items {
            let name = c.metadata.name.clone().unwrap_or_default();
            let s = c.status.clone().unwrap_or_default();
            let stored = env
                .secrets()
                .get_opt(&name)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.data)
                .and_then(|d| {
                    d.get("credentialId")
                        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                });
            out.push_str(&format!(
                "  {name}: {:?}/{:?} {:?} {:?} {:?} rotation={:?}\n",
                c.metadata.generation,
                s.observed_generation,
                s.credential_id,
                s.previous_credential_id,
                stored,
                s.rotation_in_progress
            ));
        }
        out
    }

    /// Like [`Fleet::wait_converged`], returning what was missing instead of panicking; with
    /// `controlhub: false` only Kubernetes is looked at (no Control Hub call: its API may be
    /// failing on purpose).
    pub async fn try_converge(
        &mut self,
        env: &Env,
        timeout: Duration,
        controlhub: bool,
    ) -> Result<Duration, String> {
        let start = tokio::time::Instant::now();
        loop {
            self.sample(env).await;
            let missing = match self.pending_in_kubernetes(env).await {
                Some(what) => Some(what),
                None if controlhub => self.pending_in_controlhub(env).await,
                None => None,
            };
            match missing {
                None => return Ok(start.elapsed()),
                Some(what) if start.elapsed() > timeout => return Err(what),
                Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// Once converged: Control Hub holds exactly the declared credentials (no pending label),
    /// every Secret's token authenticates as the declared owner, and every token seen during the
    /// churn that is no longer current is refused (401).
    pub async fn verify(&mut self, env: &Env) -> Verified {
        if let Some(what) = self.pending_in_controlhub(env).await {
            panic!("{what}");
        }
        let managed = env.managed_credentials().await;
        assert!(
            managed.iter().all(|c| !c.1.contains("[k8s:")),
            "no credential is left under a pending label: {managed:?}"
        );
        let live = self.live();
        assert_eq!(managed.len(), live.len(), "one credential per live ApiCredential");
        let mut current = std::collections::BTreeSet::new();
        for name in &live {
            let (id, token) = self.secret_or_panic(env, name).await;
            let d = &self.creds[name];
            let owner = d
                .user_id
                .clone()
                .unwrap_or_else(|| env.emulator.admin().user_id.clone());
            let (status, principal) = env.principal_of(&id, &token).await;
            assert_eq!(
                (status, principal.as_deref()),
                (200, Some(owner.as_str())),
                "the token in Secret {name} (credential {id}) authenticates as its owner"
            );
            let recorded = env
                .credentials()
                .get(name)
                .await
                .unwrap()
                .status
                .and_then(|s| s.credential_id);
            assert_eq!(
                recorded.as_deref(),
                Some(id.as_str()),
                "{name}: status records the Secret's credential"
            );
            current.insert((id, token));
        }
        let mut dead = 0;
        for (id, token) in self.seen.clone() {
            if current.contains(&(id.clone(), token.clone())) {
                continue;
            }
            let status = env.token_status(&id, &token).await;
            assert_eq!(
                status, 401,
                "a token seen in a Secret during the churn and since replaced or deleted (credential {id}) must be refused"
            );
            dead += 1;
        }
        Verified {
            live: live.len(),
            dead_tokens: dead,
        }
    }

    async fn secret_or_panic(&mut self, env: &Env, name: &str) -> (String, String) {
        let pair = env.secret_credential(name).await;
        self.seen.insert(pair.clone());
        pair
    }
}

/// Control Hub calls counted by the emulator (every operation of the emulated API, whatever the
/// status or a dropped connection; the emulator's own admin API excluded).
pub fn controlhub_calls(stats: &controlhub_testkit::emulator::Stats) -> u64 {
    stats
        .operations
        .iter()
        .filter(|(op, _)| !op.starts_with("admin"))
        .map(|(_, by_status)| by_status.values().sum::<u64>())
        .sum()
}

/// The churn of the restart stories: `n` ApiCredentials created, then (around a restart the
/// story makes) a third renamed, two thirds rotated, a fifth deleted; then convergence and the
/// [`Fleet::verify`] checks.
pub struct Churn {
    pub fleet: Fleet,
    pub n: usize,
    pub start: std::time::Instant,
}

impl Churn {
    pub fn name(i: usize) -> String {
        format!("r{i:03}")
    }

    /// Creates the `n` ApiCredentials and lets the operator work on them for a moment.
    pub async fn begin(env: &Env, n: usize) -> Churn {
        let mut fleet = Fleet::new(env, n, PER_OWNER).await;
        let start = std::time::Instant::now();
        for i in 0..n {
            let owner = fleet.owner_of_slot(i, PER_OWNER);
            fleet.create(env, &Self::name(i), owner, i % 2 == 1).await;
        }
        fleet.sample_for(env, Duration::from_millis(1500)).await;
        Churn { fleet, n, start }
    }

    /// Renames, rotates and deletes among `range`.
    pub async fn mutate(&mut self, env: &Env, range: std::ops::Range<usize>) {
        for i in range {
            let name = Self::name(i);
            if i % 5 == 4 {
                self.fleet.delete(env, &name).await;
                continue;
            }
            if i % 3 == 0 {
                self.fleet.rename(env, &name).await;
            }
            if i % 3 != 2 {
                self.fleet.rotate(env, &name).await;
            }
            self.fleet.sample(env).await;
        }
    }

    /// Waits for convergence, checks everything and prints a one-line summary.
    pub async fn finish(mut self, env: &Env, story: &str, restart: Duration) {
        let converge = self.fleet.wait_converged(env, Duration::from_secs(120)).await;
        let calls = controlhub_calls(&env.emulator.stats().await);
        let verified = self.fleet.verify(env).await;
        println!(
            "restarts: {story} credentials={} live={} restart-took={:.1}s total={:.1}s converge-after-churn={:.1}s calls={calls} dead-tokens={} orphans=0",
            self.n,
            verified.live,
            restart.as_secs_f64(),
            self.start.elapsed().as_secs_f64(),
            converge.as_secs_f64(),
            verified.dead_tokens
        );
    }
}

/// Size of the restart stories: 12 credentials (CI) or 100 (`E2E_SIZE=full`).
pub fn restart_story_size() -> usize {
    if full_size() { 100 } else { 12 }
}
// ---- Helpers for the replica and shutdown stories (appended). ----

/// Name of the Lease the replica and shutdown stories elect on (in the test's namespace).
pub const LEASE: &str = "controlhub-operator";

/// Short lease timings for the replica stories: 6 s lease, 4 s renew deadline, 1 s retry.
pub const FAST_LEASE: [(&str, &str); 3] = [
    ("lease-duration", "6s"),
    ("lease-renew-deadline", "4s"),
    ("lease-retry-period", "1s"),
];

/// Write operations of Control Hub's API as the emulator counts them.
pub const CONTROLHUB_WRITES: [&str; 3] = ["createCredential", "updateCredential", "deleteCredential"];

impl Operator {
    /// Sends `signal` (`libc::SIGTERM`, `SIGSTOP`, `SIGCONT`, …) to the running process.
    pub fn signal(&self, signal: i32) {
        self.child
            .as_ref()
            .expect("the operator is running")
            .signal(signal);
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if it still runs.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait()) {
                return Some(status);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sets the leader election arguments: on, the test's namespace, [`LEASE`], `identity`,
    /// [`FAST_LEASE`] timings. Takes effect at the next (re)start.
    pub fn elect_as(&mut self, namespace: &str, identity: &str) {
        self.set_arg("leader-election", "true");
        self.set_arg("lease-namespace", namespace);
        self.set_arg("lease-name", LEASE);
        self.set_arg("identity", identity);
        for (flag, value) in FAST_LEASE {
            self.set_arg(flag, value);
        }
    }

    /// The identity the operator elects with.
    pub fn identity(&self) -> String {
        self.arg("identity").expect("started with --identity")
    }

    /// The operator's `/metrics` text.
    pub async fn metrics(&self) -> String {
        scrape(&self.metrics_addr()).await
    }

    /// `/readyz`: (HTTP status, body).
    pub async fn readyz(&self) -> Option<(u16, String)> {
        let addr = self.arg("health-addr")?;
        let response = reqwest::get(format!("http://{addr}/readyz")).await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.unwrap_or_default()))
    }
}

/// GET `http://<addr>/metrics`.
pub async fn scrape(addr: &str) -> String {
    let url = format!("http://{addr}/metrics");
    let response = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("scraping {url}: {e}"));
    response.text().await.expect("the metrics body is text")
}

/// The sum of every sample of the counter `name` (`…_total` lines) in a metrics text.
pub fn counter_sum(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

impl Env {
    /// Another operator process for this Env: the same arguments (namespace, lease, timings) with
    /// identity `identity`, its own ports and log file `operator-<identity>.log`. Started at once.
    pub fn replica(&self, identity: &str) -> Operator {
        let launcher = self.operator.launcher.clone().fresh_ports();
        let mut replica = Operator {
            child: None,
            launcher,
            log: self.dir.join(format!("operator-{identity}.log")),
        };
        replica.set_arg("identity", identity);
        replica.child = Some(Operator::spawn(&replica.launcher, &replica.log));
        replica
    }

    /// The holder of the test's Lease now (`None`: no Lease, or released).
    pub async fn lease_holder(&self) -> Option<String> {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> = self.ns.api();
        let lease = leases.get_opt(LEASE).await.ok().flatten()?;
        lease.spec?.holder_identity.filter(|h| !h.is_empty())
    }

    /// Waits until `identity` holds the Lease.
    pub async fn wait_leader(&self, identity: &str) {
        eventually(&format!("{identity} to hold the Lease"), WAIT, || async move {
            (self.lease_holder().await.as_deref() == Some(identity)).then_some(())
        })
        .await;
    }

    /// Control Hub write requests (create, update, delete) the emulator has answered so far.
    pub async fn controlhub_writes(&self) -> u64 {
        let stats = self.emulator.stats().await;
        CONTROLHUB_WRITES.iter().map(|op| stats.total(op)).sum()
    }
}

// ---- Helpers for stories that must hold under every emulator profile (appended). ----

/// How long a revoked token may keep working: the strict profile delays revocation by 2 s; the
/// real service may take longer, so allow a few times that.
pub const REVOCATION_WAIT: Duration = Duration::from_secs(10);
/// How long a change may take to show in Control Hub's lists: the strict profile lags 2 s.
pub const LIST_WAIT: Duration = Duration::from_secs(10);

impl Env {
    /// Whether the emulator runs the `strict` profile (admins may not rename other users'
    /// credentials, lists lag, revocation is delayed).
    pub fn strict(&self) -> bool {
        self.profile.as_deref() == Some("strict")
    }

    /// Waits (up to [`REVOCATION_WAIT`]) until the token of credential `id` is refused with 401:
    /// revocation may take effect after a delay, but must take effect.
    pub async fn assert_token_refused(&self, id: &str, token: &str, what: &str) {
        let last = std::cell::Cell::new(0);
        let refused = within(REVOCATION_WAIT, || {
            let last = &last;
            async move {
                last.set(self.token_status(id, token).await);
                (last.get() == 401).then_some(())
            }
        })
        .await;
        assert!(
            refused.is_some(),
            "{what}: the token of credential {id} must be refused (401) within {REVOCATION_WAIT:?}; last got HTTP {}",
            last.get()
        );
    }

    /// Waits (up to [`LIST_WAIT`]) until Control Hub's org-wide list satisfies `check`; returns
    /// what `check` made of it. Lists may lag behind changes; every change must show eventually.
    pub async fn eventually_controlhub_credentials<T>(
        &self,
        what: &str,
        check: impl Fn(&[(String, String, String, bool)]) -> Option<T>,
    ) -> T {
        let check = &check;
        let last = std::cell::RefCell::new(Vec::new());
        let found = within(LIST_WAIT, || {
            let last = &last;
            async move {
                let listed = self.controlhub_credentials().await;
                let found = check(&listed);
                *last.borrow_mut() = listed;
                found
            }
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {LIST_WAIT:?} waiting for Control Hub to list: {what}; it lists {:?}",
                last.borrow()
            )
        })
    }

    /// Like [`Env::eventually_controlhub_credentials`] over the credentials other than the admin's
    /// bootstrap one; returns them once `check` holds.
    pub async fn eventually_managed_credentials(
        &self,
        what: &str,
        check: impl Fn(&[(String, String, String, bool)]) -> bool,
    ) -> Vec<(String, String, String, bool)> {
        let admin = self.emulator.admin().credential_id.clone();
        self.eventually_controlhub_credentials(what, |all| {
            let managed: Vec<_> = all.iter().filter(|c| c.0 != admin).cloned().collect();
            check(&managed).then_some(managed)
        })
        .await
    }

    /// Waits (up to [`LIST_WAIT`]) until Control Hub lists credential `id` and it satisfies
    /// `check`; returns it as listed.
    pub async fn wait_listed(
        &self,
        id: &str,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let check = &check;
        let last = std::cell::RefCell::new(None);
        let found = within(LIST_WAIT, || {
            let last = &last;
            async move {
                let listed = self.controlhub_credential(id).await;
                *last.borrow_mut() = listed.clone();
                listed.filter(|c| check(c))
            }
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {LIST_WAIT:?} waiting for Control Hub to list credential {id} {what}; it lists {:?}",
                last.borrow()
            )
        })
    }

    /// Waits (up to [`LIST_WAIT`]) until Control Hub no longer lists credential `id`.
    pub async fn wait_unlisted(&self, id: &str, what: &str) {
        let gone = within(LIST_WAIT, || async move {
            self.controlhub_credential(id).await.is_none().then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "{what}: Control Hub still lists credential {id} after {LIST_WAIT:?}"
        );
    }
}

impl Env {
    /// Waits until Control Hub lists the credential of ApiCredential `name` as its status records
    /// it (ID, label, active). Lists may lag behind the operator's own writes; until they catch
    /// up, the operator's next fresh list misses the credential and it confirms the credential
    /// exists with an idempotent `POST …/api-user-credentials/{id}` (counted as
    /// `updateCredential`). Stories that count Control Hub calls start counting after this.
    pub async fn wait_listed_as_recorded(&self, name: &str) -> serde_json::Value {
        let status = self
            .credentials()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("reading ApiCredential {name}: {e}"))
            .status
            .unwrap_or_else(|| panic!("{name} has no status"));
        let id = status
            .credential_id
            .unwrap_or_else(|| panic!("{name} records no credential"));
        let (label, active) = (status.label, status.active);
        self.wait_listed(
            &id,
            &format!("as {name} records it ({label:?}, active {active:?})"),
            |c| {
                label
                    .as_deref()
                    .is_none_or(|l| c["label"] == serde_json::json!(l))
                    && active.is_none_or(|a| c["active"] == serde_json::json!(a))
            },
        )
        .await
    }
}

/// How far behind lists are under the strict profile (`listLagMs`).
pub const STRICT_LIST_LAG: Duration = Duration::from_secs(2);

impl Env {
    /// Control Hub's org-wide list once every change made so far shows in it: under `strict`
    /// read after the list lag has passed (for stories that check something was NOT created).
    pub async fn controlhub_credentials_settled(&self) -> Vec<(String, String, String, bool)> {
        if self.strict() {
            tokio::time::sleep(STRICT_LIST_LAG + Duration::from_millis(500)).await;
        }
        self.controlhub_credentials().await
    }

    /// [`Env::managed_credentials`] once every change made so far shows in the list.
    pub async fn managed_credentials_settled(&self) -> Vec<(String, String, String, bool)> {
        let admin = self.emulator.admin().credential_id.clone();
        self.controlhub_credentials_settled()
            .await
            .into_iter()
            .filter(|c| c.0 != admin)
            .collect()
    }
}

// ---- Helpers for the kubectl plugin stories (appended). ----

impl Env {
    /// A kubeconfig (written under the test's directory) that acts as `user` through the admin's
    /// impersonation, so a binary run with it has only that user's RBAC.
    pub fn kubeconfig_as(&self, user: &str) -> PathBuf {
        let text = std::fs::read_to_string(&plane().kubeconfig).expect("the admin kubeconfig is readable");
        let mut config: serde_yaml::Value =
            serde_yaml::from_str(&text).expect("the admin kubeconfig is YAML");
        for entry in config["users"]
            .as_sequence_mut()
            .expect("the kubeconfig has users")
        {
            let auth = entry["user"].as_mapping_mut().expect("a user entry");
            auth.insert("as".into(), user.into());
            auth.insert("as-groups".into(), vec!["system:authenticated"].into());
        }
        let path = self
            .dir
            .join(format!("{}.kubeconfig", user.replace(['@', ':', '/'], "-")));
        std::fs::write(&path, serde_yaml::to_string(&config).expect("YAML")).expect("writing the kubeconfig");
        path
    }

    /// A user of this namespace who may read ApiCredentials and ControlHubConnections here but no
    /// Secret; returns a kubeconfig that acts as them.
    pub async fn viewer_without_secrets(&self) -> PathBuf {
        let user = format!("viewer@{}", self.ns.name);
        let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "controlhub-viewer", "namespace": self.ns.name},
            "rules": [{
                "apiGroups": ["controlhub.dev"],
                "resources": ["apicredentials", "controlhubconnections"],
                "verbs": ["get", "list", "watch"]
            }]
        }))
        .unwrap();
        let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "controlhub-viewer", "namespace": self.ns.name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "controlhub-viewer"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        }))
        .unwrap();
        let apply = PatchParams::apply("e2e").force();
        self.ns
            .api::<k8s_openapi::api::rbac::v1::Role>()
            .patch("controlhub-viewer", &apply, &Patch::Apply(&role))
            .await
            .expect("applying the viewer Role");
        self.ns
            .api::<k8s_openapi::api::rbac::v1::RoleBinding>()
            .patch("controlhub-viewer", &apply, &Patch::Apply(&binding))
            .await
            .expect("binding the viewer Role");
        // RBAC is read from an informer: wait until the viewer may read ApiCredentials here.
        let client = plane().impersonating(&user, &["system:authenticated"]).await;
        let api: Api<ApiCredential> = Api::namespaced(client, &self.ns.name);
        eventually("the viewer's RBAC to take effect", WAIT, || {
            let api = api.clone();
            async move { api.list(&Default::default()).await.ok().map(|_| ()) }
        })
        .await;
        self.kubeconfig_as(&user)
    }

    /// Makes the test's connection look again (a new annotation value is a change it reconciles on).
    pub async fn poke_connection(&self) {
        let api: Api<controlhub_operator::api::ControlHubConnection> = self.ns.api();
        let value = format!("{:016x}", rand::random::<u64>());
        let patch = serde_json::json!({"metadata": {"annotations": {"e2e/poke": value}}});
        api.patch(CONNECTION, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("annotating ControlHubConnection {CONNECTION}: {e}"));
    }

    /// Has the test's connection report its owners' counts afresh (poked again while they differ:
    /// the operator's lists may catch up between two looks) until it counts `count` credentials
    /// for `owner`.
    pub async fn connection_counts(&self, owner: &str, count: u32) {
        let api: Api<controlhub_operator::api::ControlHubConnection> = self.ns.api();
        eventually(
            &format!("ControlHubConnection {CONNECTION} to count {count} credentials of {owner}"),
            WAIT,
            || {
                let api = api.clone();
                async move {
                    let status = api.get(CONNECTION).await.ok()?.status?;
                    let counted = status
                        .credentials_per_owner
                        .iter()
                        .any(|c| c.owner == owner && c.count == count);
                    if !counted {
                        self.poke_connection().await;
                    }
                    counted.then_some(())
                }
            },
        )
        .await;
    }

    /// With the bootstrap admin credential and one ApiCredential's, makes 8 more credentials by
    /// hand for the admin, and waits until Control Hub lists the owner's 10 (its limit): lists may
    /// lag behind the creates.
    pub async fn fill_admin_quota(&self) {
        for i in 0..8 {
            self.create_in_controlhub(&format!("made by hand {i}")).await;
        }
        let admin = self.emulator.admin().user_id.clone();
        self.eventually_controlhub_credentials("the owner's 10 credentials", |all| {
            (all.iter().filter(|c| c.2 == admin).count() == 10).then_some(())
        })
        .await;
    }
}

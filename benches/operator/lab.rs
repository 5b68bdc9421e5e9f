//! One scenario's world: a namespace on the benchmark's control plane, its own Control Hub
//! emulator, a ControlHubConnection to it (org admin, any user allowed, the scenario's limits), and
//! the operator process. Helpers create service accounts, apply ApiCredentials many at a time,
//! and count how many are Ready.
//!
//! Must be used from the main thread's future (the emulator and operator are child processes that
//! die with the thread that spawned them). Never prints a token.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use controlhub_operator::api::{ApiCredential, ConditionType};
use controlhub_testkit::emulator::Emulator;
use controlhub_testkit::process::workspace_root;
use controlhub_testkit::world::{Connection, ConnectionKind, CredentialManifest};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, reflector};
use kube::runtime::watcher::{self, watcher};

use crate::BenchResult;
use crate::process::{Operator, OperatorArgs};

/// Name of the ControlHubConnection in every lab.
pub const CONNECTION: &str = "controlhub";
/// Field manager of the benchmark's applies (the "user").
const MANAGER: &str = "bench-user";

/// Control Hub limits of the lab's connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_concurrent_requests: u32,
    pub requests_per_second: f64,
    pub burst: u32,
}

/// The connection the benchmark calls "tuned": 32 requests in flight and a rate limit high enough
/// (1,000/s, burst 1,000) that only the in-flight cap and Control Hub's latency pace creation.
pub const TUNED: Limits = Limits {
    max_concurrent_requests: 32,
    requests_per_second: 1000.0,
    burst: 1000,
};

/// The operator's connection defaults (`src/api/connection.rs`), for labels only: a connection
/// started with `None` limits gets them from the operator itself.
pub const DEFAULTS_LABEL: &str = "defaults: 100/s, burst 100, 16 in flight";

/// What the benchmark needs from its control plane.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    /// etcd, kube-apiserver and kube-controller-manager, for their CPU time.
    pub plane_pids: Vec<u32>,
    pub operator_bin: PathBuf,
    pub emulator_bin: PathBuf,
}

/// One scenario's namespace, emulator and operator.
pub struct Lab {
    pub namespace: String,
    pub emulator: Emulator,
    pub operator: Option<Operator>,
    pub cluster: Cluster,
    log_dir: PathBuf,
}

impl Lab {
    /// Creates the namespace, starts an emulator and applies the connection with `limits` (`None`:
    /// the connection names no limits, so the operator's defaults apply).
    pub async fn start(cluster: &Cluster, name: &str, limits: Option<Limits>) -> BenchResult<Lab> {
        let namespace = format!("bench-{name}-{:06x}", rand::random::<u32>() & 0xff_ffff);
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(namespace.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(cluster.client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        let emulator = Emulator::try_start(Emulator::options().binary(&cluster.emulator_bin))?;
        let log_dir = workspace_root()
            .join("target/bench-logs/operator")
            .join(&namespace);
        std::fs::create_dir_all(&log_dir)?;
        let lab = Lab {
            namespace,
            emulator,
            operator: None,
            cluster: cluster.clone(),
            log_dir,
        };
        lab.apply_connection(limits).await?;
        Ok(lab)
    }

    async fn apply_connection(&self, limits: Option<Limits>) -> BenchResult<()> {
        let mut connection =
            Connection::namespaced(CONNECTION, &self.namespace, &self.emulator).allowed_user_ids(["*"]);
        if let Some(limits) = limits {
            connection = connection
                .max_concurrent_requests(limits.max_concurrent_requests)
                .rate_limit(limits.requests_per_second, limits.burst);
        }
        connection.apply(&self.cluster.client, MANAGER).await?;
        Ok(())
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.cluster.client.clone(), &self.namespace)
    }

    /// Creates `count` service accounts in the emulator; returns their user IDs.
    pub async fn create_service_accounts(&self, count: usize) -> Vec<String> {
        self.create_named_service_accounts("bench-sa", count).await
    }

    /// Creates `count` service accounts named `{prefix}-{n}`; returns their user IDs.
    pub async fn create_named_service_accounts(&self, prefix: &str, count: usize) -> Vec<String> {
        let mut users = Vec::with_capacity(count);
        for n in 0..count {
            let name = format!("{prefix}-{n}");
            users.push(
                self.emulator
                    .create_user(&format!("{name}@example.com"), &name, &[], true)
                    .await,
            );
        }
        users
    }

    /// Starts the operator (killing a previous one) and waits for its caches to sync.
    pub async fn start_operator(&mut self, args: &OperatorArgs) -> BenchResult<Duration> {
        if let Some(old) = self.operator.take() {
            old.kill();
        }
        let log = self.log_dir.join("operator.log");
        println!("  operator log: {}", log.display());
        let operator = self.operator.insert(Operator::spawn(
            &self.cluster.operator_bin,
            &self.cluster.kubeconfig,
            args,
            log,
        )?);
        operator.wait_ready(Duration::from_secs(60)).await
    }

    /// Server-side applies one ApiCredential named `name`, owned by `user` (the connection's own
    /// user when `None`).
    pub async fn apply_credential(&self, name: &str, user: Option<&str>) -> BenchResult<()> {
        let mut manifest = CredentialManifest::new(name)
            .namespace(&self.namespace)
            .connection_ref(ConnectionKind::Namespaced, CONNECTION);
        if let Some(user) = user {
            manifest = manifest.user_id(user);
        }
        self.api::<ApiCredential>()
            .patch(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&manifest.json()),
            )
            .await?;
        Ok(())
    }

    /// Applies every `(name, user)` with `parallel` applies in flight; returns the time it took and
    /// how many failed.
    pub async fn apply_many(&self, items: Vec<(String, String)>, parallel: usize) -> (Duration, usize) {
        let started = Instant::now();
        let failures = stream::iter(items)
            .map(|(name, user)| async move { self.apply_credential(&name, Some(&user)).await.is_err() })
            .buffer_unordered(parallel)
            .filter(|failed| futures::future::ready(*failed))
            .count()
            .await;
        (started.elapsed(), failures)
    }

    /// Watches the namespace's ApiCredentials (a watch, not repeated lists, so the measuring adds
    /// little load to the API server) and checks every `poll` until `expected` are Ready; the time
    /// it took, or `None` (with the last count) after `timeout`.
    pub async fn wait_all_ready(
        &self,
        expected: usize,
        timeout: Duration,
        poll: Duration,
    ) -> (Option<Duration>, usize) {
        let (took, ready, _) = self.wait_ready_or_stall(expected, timeout, poll, timeout).await;
        (took, ready)
    }

    /// As [`Lab::wait_all_ready`], but also gives up once the Ready count has not grown for
    /// `stall`; the third value is when the count last grew (the time to the last Ready).
    pub async fn wait_ready_or_stall(
        &self,
        expected: usize,
        timeout: Duration,
        poll: Duration,
        stall: Duration,
    ) -> (Option<Duration>, usize, Duration) {
        let started = Instant::now();
        let (reader, writer) = reflector::store();
        let events = reflector(
            writer,
            watcher(self.api::<ApiCredential>(), watcher::Config::default()),
        );
        let drain = tokio::spawn(events.for_each(|_| futures::future::ready(())));
        let (mut last, mut grew) = (0, Duration::ZERO);
        while started.elapsed() < timeout {
            let now = reader.state().iter().filter(|c| is_ready(c)).count();
            if now > last {
                (last, grew) = (now, started.elapsed());
            }
            if last >= expected || (last > 0 && started.elapsed() - grew > stall) {
                break;
            }
            tokio::time::sleep(poll).await;
        }
        drain.abort();
        ((last >= expected).then(|| started.elapsed()), last, grew)
    }
}

impl Lab {
    /// How many ApiCredentials are not Ready, by their Ready condition's reason (`reason ×n, …`).
    pub async fn not_ready_reasons(&self) -> String {
        let Ok(list) = self.api::<ApiCredential>().list(&Default::default()).await else {
            return "(cannot list)".into();
        };
        let mut reasons = std::collections::BTreeMap::<String, usize>::new();
        for c in list.items.iter().filter(|c| !is_ready(c)) {
            let reason = c
                .status
                .as_ref()
                .and_then(|s| {
                    s.conditions
                        .iter()
                        .find(|x| x.type_ == ConditionType::Ready.as_str())
                })
                .map(|x| x.reason.clone())
                .unwrap_or_else(|| "no Ready condition".into());
            *reasons.entry(reason).or_default() += 1;
        }
        reasons
            .iter()
            .map(|(r, n)| format!("{r} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Ready=True for the current generation with no rotation under way (as the e2e tests wait).
pub fn is_ready(c: &ApiCredential) -> bool {
    let Some(status) = c.status.as_ref() else {
        return false;
    };
    let ready = status
        .conditions
        .iter()
        .any(|x| x.type_ == ConditionType::Ready.as_str() && x.status == "True");
    ready && status.observed_generation == c.metadata.generation && status.rotation_in_progress.is_none()
}

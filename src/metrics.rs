//! Prometheus metrics of the operator. Every label is static or bounded (result classes,
//! operation names, object namespace/name); never error text, never anything secret.
//!
//! Owns the registry and the metric families; the controller records into them, the health server
//! renders them. Implements the Control Hub client's [`RequestObserver`] so the client stays free
//! of any metrics library.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::{ApiCredentialStatus, Reason, RotationReason, WorkloadKind};
use crate::controlhub::RequestObserver;

/// The prefix of every metric name.
pub const PREFIX: &str = "controlhub_operator";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `apicredential` or `connection`.
    pub controller: &'static str,
    /// `ok`, `blocked` or an error category.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialReadyLabels {
    pub namespace: String,
    pub name: String,
    /// The reason of the Ready condition: a [`Reason`] spelling (a fixed enum), or `Unknown`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabels {
    /// A [`RotationReason`]: `Schedule`, `Requested`, `TokenInvalid`, `Recreate` or `SecretLost`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestartLabels {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: &'static str,
    /// `ok` or `failed`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionKindLabel {
    /// `ControlHubConnection` or `ClusterControlHubConnection`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubernetesRequestLabels {
    /// `get`, `list`, `watch`, `create`, `patch`, `update`, `delete`.
    pub verb: &'static str,
    /// A resource the operator uses (`secrets`, `apicredentials/status`, …) or `other`.
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OwnerLabels {
    pub connection: String,
    pub owner: String,
}

/// The operator's metrics.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Family<ControllerLabel, Histogram>,
    pub controlhub_requests: Family<RequestLabels, Counter>,
    pub controlhub_request_duration: Family<OperationLabel, Histogram>,
    pub last_rotation: Family<CredentialLabels, Gauge<i64>>,
    pub next_rotation: Family<CredentialLabels, Gauge<i64>>,
    pub credentials_per_owner: Family<OwnerLabels, Gauge<i64>>,
    /// 1 when an ApiCredential's Ready condition is True, else 0; labelled with its reason.
    pub credential_ready: Family<CredentialReadyLabels, Gauge<i64>>,
    /// Finished rotations by why they started.
    pub rotations: Family<RotationLabels, Counter>,
    /// Workload restarts the operator made (or failed to make) for a new token.
    pub restarts: Family<RestartLabels, Counter>,
    /// The number of credentials one Control Hub user may own (the operator's quota setting).
    pub credential_quota_limit: Gauge<i64>,
    /// Connections with a cached Control Hub client (or a cached failure): must fall back when
    /// connections are deleted.
    pub connection_clients: Family<ConnectionKindLabel, Gauge<i64>>,
    /// The controllers' Kubernetes API requests (see `kube_requests`).
    pub kubernetes_requests: Family<KubernetesRequestLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by controller and result",
            reconciles.clone(),
        );
        let kubernetes_requests = Family::<KubernetesRequestLabels, Counter>::default();
        registry.register(
            "kubernetes_requests",
            "Kubernetes API requests the controllers sent, by verb and resource",
            kubernetes_requests.clone(),
        );
        let reconcile_duration = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile takes",
            reconcile_duration.clone(),
        );
        let controlhub_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "controlhub_requests",
            "HTTP attempts to Control Hub by operation and outcome",
            controlhub_requests.clone(),
        );
        let controlhub_request_duration = Family::<OperationLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "controlhub_request_duration_seconds",
            "Time of one HTTP attempt to Control Hub",
            controlhub_request_duration.clone(),
        );
        let last_rotation = Family::<CredentialLabels, Gauge<i64>>::default();
        registry.register(
            "credential_last_rotation_timestamp_seconds",
            "When the token of an ApiCredential was last issued",
            last_rotation.clone(),
        );
        let next_rotation = Family::<CredentialLabels, Gauge<i64>>::default();
        registry.register(
            "credential_next_rotation_timestamp_seconds",
            "When the token of an ApiCredential is next rotated",
            next_rotation.clone(),
        );
        let credentials_per_owner = Family::<OwnerLabels, Gauge<i64>>::default();
        registry.register(
            "controlhub_credentials_per_owner",
            "Credentials each Control Hub user owns, as last listed",
            credentials_per_owner.clone(),
        );
        let connection_clients = Family::<ConnectionKindLabel, Gauge<i64>>::default();
        registry.register(
            "controlhub_connection_clients",
            "Connections whose Control Hub client (or failure) is cached, by connection kind",
            connection_clients.clone(),
        );
        let credential_ready = Family::<CredentialReadyLabels, Gauge<i64>>::default();
        registry.register(
            "credential_ready",
            "1 when the Ready condition of an ApiCredential is True, else 0, with the condition's reason",
            credential_ready.clone(),
        );
        let rotations = Family::<RotationLabels, Counter>::default();
        registry.register(
            "rotations",
            "Finished token rotations by reason",
            rotations.clone(),
        );
        let restarts = Family::<RestartLabels, Counter>::default();
        registry.register(
            "restarts",
            "Workload restarts made for a new token, by workload kind and result",
            restarts.clone(),
        );
        let credential_quota_limit = Gauge::<i64>::default();
        registry.register(
            "credential_quota_limit",
            "Credentials one Control Hub user may own",
            credential_quota_limit.clone(),
        );
        Metrics {
            credential_ready,
            rotations,
            restarts,
            credential_quota_limit,
            connection_clients,
            kubernetes_requests,
            registry,
            reconciles,
            reconcile_duration,
            controlhub_requests,
            controlhub_request_duration,
            last_rotation,
            next_rotation,
            credentials_per_owner,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn reconciled(&self, controller: &'static str, result: &'static str, elapsed: Duration) {
        self.reconciles
            .get_or_create(&ReconcileLabels { controller, result })
            .inc();
        self.reconcile_duration
            .get_or_create(&ControllerLabel { controller })
            .observe(elapsed.as_secs_f64());
    }

    /// Forgets the per-object series of a deleted ApiCredential (bounded cardinality).
    pub fn forget_credential(&self, namespace: &str, name: &str) {
        let labels = CredentialLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.last_rotation.remove(&labels);
        self.next_rotation.remove(&labels);
        self.forget_ready(namespace, name, None);
    }

    /// Removes the ready series of a credential except the one with reason `keep`.
    fn forget_ready(&self, namespace: &str, name: &str, keep: Option<&'static str>) {
        for reason in Reason::ALL
            .iter()
            .map(|r| r.as_str())
            .chain(std::iter::once(UNKNOWN_REASON))
        {
            if Some(reason) != keep {
                self.credential_ready.remove(&CredentialReadyLabels {
                    namespace: namespace.into(),
                    name: name.into(),
                    reason,
                });
            }
        }
    }

    /// Records the status the operator is about to write for an ApiCredential (or keeps, when
    /// unchanged): its Ready condition and rotation times. Called on every status write, so the
    /// series exist again after a restart of the operator.
    pub fn credential_status(&self, namespace: &str, name: &str, status: &ApiCredentialStatus) {
        let labels = CredentialLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        match status.last_rotation_time {
            Some(last) => {
                self.last_rotation.get_or_create(&labels).set(last.timestamp());
            }
            None => {
                self.last_rotation.remove(&labels);
            }
        }
        match status.next_rotation_time {
            Some(next) => {
                self.next_rotation.get_or_create(&labels).set(next.timestamp());
            }
            None => {
                self.next_rotation.remove(&labels);
            }
        }
        let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready") else {
            return;
        };
        let reason = Reason::parse(&ready.reason).map_or(UNKNOWN_REASON, Reason::as_str);
        self.forget_ready(namespace, name, Some(reason));
        self.credential_ready
            .get_or_create(&CredentialReadyLabels {
                namespace: namespace.into(),
                name: name.into(),
                reason,
            })
            .set(i64::from(ready.status == "True"));
    }

    /// Counts a finished rotation when a status write replaces `before` with `after`: the last
    /// rotation time moved on while a rotation was in progress.
    pub fn credential_status_written(&self, before: &ApiCredentialStatus, after: &ApiCredentialStatus) {
        if after.last_rotation_time == before.last_rotation_time {
            return;
        }
        if let Some(progress) = &before.rotation_in_progress {
            self.rotations
                .get_or_create(&RotationLabels {
                    reason: rotation_reason(progress.reason),
                })
                .inc();
        }
    }

    /// Counts one Kubernetes API request of the controllers.
    pub fn kubernetes_request(&self, verb: &'static str, resource: String) {
        self.kubernetes_requests
            .get_or_create(&KubernetesRequestLabels { verb, resource })
            .inc();
    }

    /// Sets the per-owner credential quota.
    pub fn quota_limit(&self, limit: usize) {
        self.credential_quota_limit
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// Counts a workload restart made (`ok`) or failed for a new token.
    pub fn restarted(&self, kind: WorkloadKind, ok: bool) {
        let kind = match kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        };
        let result = if ok { "ok" } else { "failed" };
        self.restarts.get_or_create(&RestartLabels { kind, result }).inc();
    }
}

/// The ready reason label of a condition whose reason is not one of ours.
pub const UNKNOWN_REASON: &str = "Unknown";

/// The label of a [`RotationReason`].
pub const fn rotation_reason(reason: RotationReason) -> &'static str {
    match reason {
        RotationReason::Schedule => "Schedule",
        RotationReason::Requested => "Requested",
        RotationReason::TokenInvalid => "TokenInvalid",
        RotationReason::Recreate => "Recreate",
        RotationReason::SecretLost => "SecretLost",
    }
}

/// The names of every metric series the operator exposes, as Prometheus sees them (with the
/// `_total` of counters and the `_bucket`/`_sum`/`_count` of histograms), sorted. Taken from the
/// registry's own rendering with every family touched once.
pub fn metric_names() -> Vec<String> {
    let m = Metrics::new();
    m.reconciled("apicredential", "ok", Duration::from_millis(1));
    m.kubernetes_request("get", "secrets".into());
    m.controlhub_requests
        .get_or_create(&RequestLabels {
            operation: "x",
            outcome: "ok",
        })
        .inc();
    m.controlhub_request_duration
        .get_or_create(&OperationLabel { operation: "x" })
        .observe(0.1);
    let mut status = ApiCredentialStatus {
        last_rotation_time: Some(chrono::Utc::now()),
        next_rotation_time: Some(chrono::Utc::now()),
        ..Default::default()
    };
    status.conditions = serde_json::from_value(serde_json::json!([{
        "type": "Ready", "status": "True", "reason": "Ready", "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z"
    }]))
    .unwrap_or_default();
    m.credential_status("a", "b", &status);
    m.rotations
        .get_or_create(&RotationLabels { reason: "Schedule" })
        .inc();
    m.restarted(WorkloadKind::Deployment, true);
    m.credentials_per_owner
        .get_or_create(&OwnerLabels {
            connection: "c".into(),
            owner: "o".into(),
        })
        .set(1);
    m.connection_clients
        .get_or_create(&ConnectionKindLabel {
            kind: "ControlHubConnection",
        })
        .set(1);
    m.quota_limit(10);
    let mut names: Vec<String> = m
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Adapts [`Metrics`] to the client's observer hook.
pub struct ClientObserver(pub Arc<Metrics>);

impl RequestObserver for ClientObserver {
    fn observe(&self, operation: &'static str, outcome: &'static str, elapsed: Duration) {
        self.0
            .controlhub_requests
            .get_or_create(&RequestLabels { operation, outcome })
            .inc();
        self.0
            .controlhub_request_duration
            .get_or_create(&OperationLabel { operation })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_carry_the_recorded_values() {
        let m = Arc::new(Metrics::new());
        m.reconciled("apicredential", "ok", Duration::from_millis(5));
        ClientObserver(m.clone()).observe("createCredential", "ok", Duration::from_millis(2));
        let text = m.render();
        assert!(
            text.contains(
                r#"controlhub_operator_reconciles_total{controller="apicredential",result="ok"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"controlhub_operator_controlhub_requests_total{operation="createCredential",outcome="ok"} 1"#), "{text}");
    }

    #[test]
    fn forgetting_a_credential_removes_its_series() {
        let m = Metrics::new();
        let labels = CredentialLabels {
            namespace: "a".into(),
            name: "b".into(),
        };
        m.next_rotation.get_or_create(&labels).set(5);
        assert!(m.render().contains(r#"name="b""#));
        m.forget_credential("a", "b");
        assert!(!m.render().contains(r#"name="b""#));
    }

    fn status(ready: &str, reason: &str) -> ApiCredentialStatus {
        ApiCredentialStatus {
            conditions: serde_json::from_value(serde_json::json!([{
                "type": "Ready", "status": ready, "reason": reason, "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z"
            }]))
            .unwrap(),
            next_rotation_time: Some(chrono::Utc::now()),
            ..Default::default()
        }
    }

    #[test]
    fn the_ready_gauge_keeps_one_series_per_credential_and_is_forgotten() {
        let m = Metrics::new();
        m.credential_status("ns", "c", &status("True", "Ready"));
        m.credential_status("ns", "c", &status("False", "QuotaExceeded"));
        let text = m.render();
        assert!(
            text.contains(
                r#"controlhub_operator_credential_ready{namespace="ns",name="c",reason="QuotaExceeded"} 0"#
            ),
            "{text}"
        );
        assert!(!text.contains(r#"reason="Ready""#), "{text}");
        m.credential_status("ns", "c", &status("False", "some free text"));
        assert!(m.render().contains(r#"reason="Unknown""#));
        m.forget_credential("ns", "c");
        let text = m.render();
        assert!(!text.contains(r#"name="c""#), "{text}");
    }

    #[test]
    fn a_finished_rotation_is_counted_by_its_reason() {
        let m = Metrics::new();
        let mut before = status("True", "Ready");
        before.rotation_in_progress = Some(crate::api::RotationInProgress {
            strategy: crate::api::RotationStrategy::Replace,
            started_at: chrono::Utc::now(),
            reason: RotationReason::Requested,
        });
        let mut after = status("True", "Ready");
        after.last_rotation_time = Some(chrono::Utc::now());
        m.credential_status_written(&before, &after);
        m.credential_status_written(&after, &after);
        assert!(
            m.render()
                .contains(r#"controlhub_operator_rotations_total{reason="Requested"} 1"#)
        );
    }

    #[test]
    fn metric_names_lists_every_family() {
        let names = metric_names();
        for n in [
            "controlhub_operator_credential_ready",
            "controlhub_operator_rotations_total",
            "controlhub_operator_restarts_total",
            "controlhub_operator_credential_quota_limit",
            "controlhub_operator_controlhub_credentials_per_owner",
            "controlhub_operator_reconcile_duration_seconds_bucket",
            "controlhub_operator_controlhub_requests_total",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
        }
    }
}

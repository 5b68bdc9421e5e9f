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

use crate::controlhub::RequestObserver;

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
pub struct ConnectionKindLabel {
    /// `ControlHubConnection` or `ClusterControlHubConnection`.
    pub kind: &'static str,
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
    /// Connections with a cached Control Hub client (or a cached failure): must fall back when
    /// connections are deleted.
    pub connection_clients: Family<ConnectionKindLabel, Gauge<i64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("controlhub_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by controller and result",
            reconciles.clone(),
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
        Metrics {
            connection_clients,
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
    }
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
}

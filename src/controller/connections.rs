//! Resolving an ApiCredential's connection: the referenced ControlHubConnection or
//! ClusterControlHubConnection, whether the credential's namespace may use it, its credentials
//! Secret, and an authenticated Control Hub client with the identity (principal) behind it.
//!
//! Clients are cached per connection and rebuilt when the connection or its Secret changes, so
//! every ApiCredential of a connection shares one rate limiter and one HTTP pool. Problems are
//! returned as [`ConnectionProblem`]s that say what the user should do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::Api;
use kube::{Resource, ResourceExt};

use crate::api::{
    ClusterControlHubConnection, ConnectionKind, ConnectionRef, ConnectionSettings, ControlHubConnection,
    Reason,
};
use crate::controlhub::{self, AuthToken, ClientConfig, ControlHubClient, CredentialId, Principal};
use crate::metrics::{ClientObserver, Metrics};

/// Identifies a connection object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionKey {
    pub kind: ConnectionKind,
    /// Set for the namespaced kind.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ConnectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind.as_str(), ns, self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// A usable connection.
#[derive(Clone)]
pub struct Connection {
    pub key: ConnectionKey,
    pub client: ControlHubClient,
    pub principal: Principal,
    pub settings: ConnectionSettings,
    pub generation: Option<i64>,
    /// Whether ApiCredentials may obtain credentials of the connection's own identity: always for
    /// a namespaced connection (its namespace holds that identity's token already), only with
    /// `shareConnectionIdentity: true` for a cluster connection.
    pub share_identity: bool,
}

/// Why a connection can not be used now.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionProblem {
    pub reason: Reason,
    pub message: String,
    /// False when the problem may pass without a change (Control Hub unavailable).
    pub permanent: bool,
    pub retry_after: Option<Duration>,
}

impl ConnectionProblem {
    fn permanent(reason: Reason, message: String) -> Self {
        ConnectionProblem {
            reason,
            message,
            permanent: true,
            retry_after: None,
        }
    }

    fn from_controlhub(key: &ConnectionKey, e: &controlhub::Error) -> Self {
        match e {
            controlhub::Error::Unauthorized { .. } => ConnectionProblem::permanent(
                Reason::AuthenticationFailed,
                format!(
                    "Control Hub refused the credentials of {key} (401): check that the credential in its Secret exists, is active and its token is current"
                ),
            ),
            controlhub::Error::Config(c) => ConnectionProblem::permanent(
                if matches!(c, controlhub::ConfigError::CaBundle) {
                    Reason::InvalidCaBundle
                } else {
                    Reason::InvalidSpec
                },
                format!("{key} cannot be used: {c}"),
            ),
            other if other.is_transient() => ConnectionProblem {
                reason: if matches!(other, controlhub::Error::RateLimited { .. }) {
                    Reason::RateLimited
                } else {
                    Reason::ControlHubUnavailable
                },
                message: format!("Control Hub did not answer for {key}: {other}; retrying"),
                permanent: false,
                retry_after: other.retry_after(),
            },
            other => ConnectionProblem::permanent(Reason::Forbidden, format!("{key}: {other}")),
        }
    }
}

struct Cached {
    /// resourceVersions of the connection and its Secret the client was built from.
    versions: (String, String),
    connection: Connection,
    checked: Instant,
}

/// Builds and caches connections.
pub struct Connections {
    kube: kube::Client,
    metrics: Arc<Metrics>,
    cache: Mutex<HashMap<ConnectionKey, Cached>>,
    /// How long a principal lookup (`currentUser`) is trusted before it is repeated.
    recheck: Duration,
}

/// What a connection object looks like to the resolver, for both kinds.
struct ConnectionObject {
    settings: ConnectionSettings,
    secret_namespace: String,
    secret_name: String,
    id_key: String,
    token_key: String,
    allowed_namespaces: Option<LabelSelector>,
    share_identity: bool,
    resource_version: String,
    generation: Option<i64>,
}

impl Connections {
    pub fn new(kube: kube::Client, metrics: Arc<Metrics>, recheck: Duration) -> Self {
        Connections {
            kube,
            metrics,
            cache: Mutex::new(HashMap::new()),
            recheck,
        }
    }

    /// The key of the connection an ApiCredential in `namespace` refers to.
    pub fn key_for(reference: &ConnectionRef, namespace: &str) -> ConnectionKey {
        ConnectionKey {
            kind: reference.kind,
            namespace: (reference.kind == ConnectionKind::ControlHubConnection)
                .then(|| namespace.to_string()),
            name: reference.name.clone(),
        }
    }

    /// Resolves the connection for an ApiCredential in `namespace`, checking that the namespace may
    /// use it. `force_check` repeats the principal lookup even when cached.
    pub async fn resolve(
        &self,
        key: &ConnectionKey,
        from_namespace: &str,
    ) -> Result<Connection, ConnectionProblem> {
        let object = self.fetch(key).await?;
        if let Some(selector) = &object.allowed_namespaces {
            self.check_namespace_allowed(key, selector, from_namespace)
                .await?;
        }
        self.connect(key, object).await
    }

    /// Resolves a connection for its own status (no namespace check).
    pub async fn check(&self, key: &ConnectionKey) -> Result<Connection, ConnectionProblem> {
        let object = self.fetch(key).await?;
        self.connect(key, object).await
    }

    /// Drops a cached client (after Control Hub refused its credentials, for example).
    pub fn forget(&self, key: &ConnectionKey) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    async fn connect(
        &self,
        key: &ConnectionKey,
        object: ConnectionObject,
    ) -> Result<Connection, ConnectionProblem> {
        let secret = self.read_secret(key, &object).await?;
        // The client depends on the connection's spec (its generation) and its Secret; status
        // writes change only the resourceVersion and must not rebuild it (nor its in-flight cap).
        let versions = (
            object
                .generation
                .map_or_else(|| object.resource_version.clone(), |g| g.to_string()),
            secret.resource_version().unwrap_or_default(),
        );
        if let Some(hit) = self.cached(key, &versions) {
            return Ok(hit);
        }
        let (id, token) = secret_credentials(key, &secret, &object)?;
        let base_url = self.base_url(key, &object.settings, &token).await?;
        let rate = object.settings.rate_limit();
        let mut config = ClientConfig::new(base_url, id, token);
        config.requests_per_second = rate.requests_per_second;
        config.burst = rate.burst;
        config.max_concurrent_requests = object.settings.max_concurrent_requests;
        config.ca_bundle_pem = object
            .settings
            .ca_bundle
            .as_ref()
            .map(|pem| pem.as_bytes().to_vec());
        config.observer = Some(Arc::new(ClientObserver(self.metrics.clone())));
        let client =
            ControlHubClient::new(config).map_err(|e| ConnectionProblem::from_controlhub(key, &e))?;
        let principal = client
            .current_user()
            .await
            .map_err(|e| ConnectionProblem::from_controlhub(key, &e))?;
        let connection = Connection {
            key: key.clone(),
            client,
            principal,
            settings: object.settings,
            generation: object.generation,
            share_identity: object.share_identity,
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            key.clone(),
            Cached {
                versions,
                connection: connection.clone(),
                checked: Instant::now(),
            },
        );
        Ok(connection)
    }

    fn cached(&self, key: &ConnectionKey, versions: &(String, String)) -> Option<Connection> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache.get(key)?;
        (hit.versions == *versions && hit.checked.elapsed() < self.recheck).then(|| hit.connection.clone())
    }

    async fn base_url(
        &self,
        key: &ConnectionKey,
        settings: &ConnectionSettings,
        token: &AuthToken,
    ) -> Result<String, ConnectionProblem> {
        if let Some(url) = &settings.url {
            return Ok(url.clone());
        }
        let Some(aster) = &settings.aster_url else {
            return Err(ConnectionProblem::permanent(
                Reason::InvalidSpec,
                format!("{key} sets neither url nor asterUrl"),
            ));
        };
        let ca = settings.ca_bundle.as_ref().map(|p| p.as_bytes());
        ControlHubClient::discover_base_url(aster, token, Duration::from_secs(10), ca)
            .await
            .map_err(|e| {
                let mut problem = ConnectionProblem::from_controlhub(key, &e);
                if problem.permanent {
                    problem.reason = Reason::DiscoveryFailed;
                    problem.message =
                        format!("{key}: could not discover the organization's URL from {aster}: {e}");
                }
                problem
            })
    }

    async fn fetch(&self, key: &ConnectionKey) -> Result<ConnectionObject, ConnectionProblem> {
        let not_found = || {
            ConnectionProblem::permanent(
                Reason::ConnectionNotFound,
                format!(
                    "{key} does not exist: create it, or set spec.connectionRef to an existing connection"
                ),
            )
        };
        let transient = |e: kube::Error| ConnectionProblem {
            reason: Reason::ConnectionNotReady,
            message: format!("reading {key} failed: {e}"),
            permanent: false,
            retry_after: None,
        };
        match (&key.kind, &key.namespace) {
            (ConnectionKind::ControlHubConnection, Some(ns)) => {
                let api: Api<ControlHubConnection> = Api::namespaced(self.kube.clone(), ns);
                let conn = api
                    .get_opt(&key.name)
                    .await
                    .map_err(transient)?
                    .ok_or_else(not_found)?;
                let r = &conn.spec.credentials_secret_ref;
                Ok(ConnectionObject {
                    secret_namespace: ns.clone(),
                    secret_name: r.name.clone(),
                    id_key: r.credential_id_key.clone(),
                    token_key: r.auth_token_key.clone(),
                    allowed_namespaces: None,
                    share_identity: true,
                    resource_version: conn.resource_version().unwrap_or_default(),
                    generation: conn.meta().generation,
                    settings: conn.spec.settings,
                })
            }
            _ => {
                let api: Api<ClusterControlHubConnection> = Api::all(self.kube.clone());
                let conn = api
                    .get_opt(&key.name)
                    .await
                    .map_err(transient)?
                    .ok_or_else(not_found)?;
                let r = &conn.spec.credentials_secret_ref;
                Ok(ConnectionObject {
                    secret_namespace: r.namespace.clone(),
                    secret_name: r.secret.name.clone(),
                    id_key: r.secret.credential_id_key.clone(),
                    token_key: r.secret.auth_token_key.clone(),
                    allowed_namespaces: conn.spec.allowed_namespaces.clone(),
                    share_identity: conn.spec.share_connection_identity,
                    resource_version: conn.resource_version().unwrap_or_default(),
                    generation: conn.meta().generation,
                    settings: conn.spec.settings,
                })
            }
        }
    }

    async fn read_secret(
        &self,
        key: &ConnectionKey,
        object: &ConnectionObject,
    ) -> Result<Secret, ConnectionProblem> {
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), &object.secret_namespace);
        match api.get_opt(&object.secret_name).await {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(ConnectionProblem::permanent(
                Reason::SecretNotFound,
                format!(
                    "{key}: its credentials Secret {}/{} does not exist",
                    object.secret_namespace, object.secret_name
                ),
            )),
            Err(e) => Err(ConnectionProblem {
                reason: Reason::ConnectionNotReady,
                message: format!("{key}: reading its credentials Secret failed: {e}"),
                permanent: false,
                retry_after: None,
            }),
        }
    }

    async fn check_namespace_allowed(
        &self,
        key: &ConnectionKey,
        selector: &LabelSelector,
        namespace: &str,
    ) -> Result<(), ConnectionProblem> {
        let api: Api<Namespace> = Api::all(self.kube.clone());
        let ns = api.get_opt(namespace).await.map_err(|e| ConnectionProblem {
            reason: Reason::ConnectionNotReady,
            message: format!("reading namespace {namespace} failed: {e}"),
            permanent: false,
            retry_after: None,
        })?;
        let labels = ns.map(|n| n.labels().clone()).unwrap_or_default();
        if selector_matches(selector, &labels) {
            Ok(())
        } else {
            Err(ConnectionProblem::permanent(
                Reason::ConnectionNotAllowed,
                format!(
                    "{key} does not allow namespace {namespace} (spec.allowedNamespaces): ask its owner to allow this namespace, or use a ControlHubConnection here"
                ),
            ))
        }
    }
}

fn secret_credentials(
    key: &ConnectionKey,
    secret: &Secret,
    object: &ConnectionObject,
) -> Result<(CredentialId, AuthToken), ConnectionProblem> {
    let read = |k: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ConnectionProblem::permanent(
                    Reason::SecretKeyMissing,
                    format!(
                        "{key}: Secret {}/{} has no non-empty key {k:?}",
                        object.secret_namespace, object.secret_name
                    ),
                )
            })
    };
    let id = read(&object.id_key)?;
    let token = read(&object.token_key)?;
    Ok((CredentialId::new(id), AuthToken::new(token)))
}

/// Whether `labels` satisfy a Kubernetes label selector (matchLabels and matchExpressions).
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_empty_selector_allows_every_namespace() {
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn match_labels_must_all_match() {
        let s = LabelSelector {
            match_labels: Some(labels(&[("team", "data")])),
            ..Default::default()
        };
        assert!(selector_matches(&s, &labels(&[("team", "data"), ("x", "y")])));
        assert!(!selector_matches(&s, &labels(&[("team", "web")])));
        assert!(!selector_matches(&s, &labels(&[])));
    }

    #[test]
    fn match_expressions_follow_kubernetes_semantics() {
        let req = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        };
        assert!(selector_matches(
            &req("In", &["prod"]),
            &labels(&[("env", "prod")])
        ));
        assert!(!selector_matches(&req("In", &["prod"]), &labels(&[])));
        assert!(selector_matches(&req("NotIn", &["prod"]), &labels(&[])));
        assert!(!selector_matches(
            &req("NotIn", &["prod"]),
            &labels(&[("env", "prod")])
        ));
        assert!(selector_matches(&req("Exists", &[]), &labels(&[("env", "x")])));
        assert!(selector_matches(&req("DoesNotExist", &[]), &labels(&[])));
        assert!(!selector_matches(&req("Bogus", &[]), &labels(&[("env", "x")])));
    }

    #[test]
    fn namespaced_references_resolve_in_the_credentials_namespace_only() {
        let r = ConnectionRef {
            kind: ConnectionKind::ControlHubConnection,
            name: "prod".into(),
        };
        assert_eq!(
            Connections::key_for(&r, "apps").namespace.as_deref(),
            Some("apps")
        );
        let r = ConnectionRef {
            kind: ConnectionKind::ClusterControlHubConnection,
            name: "prod".into(),
        };
        assert_eq!(Connections::key_for(&r, "apps").namespace, None);
    }
}
